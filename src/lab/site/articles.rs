//! clinic.test's health articles: twelve conditions, each page with its own length and its
//! own two pictures (a hero image of 66-125 KiB, a figure of 33-62 KiB), sized like a real
//! health site's pages
//! (tens to hundreds of KB per page load). What a page load weighs is what an on-path
//! observer sees of an HTTPS visit: `plainsight fingerprint` guesses the article from it.
//!
//! Also the site's defence, `--pad`: every body rounded up to the next power of two (at
//! least 16 KiB), uncompressed, so that page loads fall into a few size buckets. On this
//! site that is one bucket (every page 16 KiB, every hero 128 KiB, every figure 64 KiB):
//! the defence's best case. A site whose pages spread over several buckets still leaks
//! the bucket.

use std::sync::OnceLock;

/// One article: its path's last part, title, opening paragraph, how many paragraphs of
/// advice follow, and its two pictures' sizes in KiB.
pub struct Article {
    pub slug: &'static str,
    pub title: &'static str,
    lede: &'static str,
    paragraphs: usize,
    pictures: [usize; 2],
}

/// Every article, in the order the home page lists them.
pub const ARTICLES: [Article; 12] = [
    Article {
        slug: "living-with-hiv",
        title: super::content::SENSITIVE_TITLE,
        lede: "Starting antiretroviral treatment is a big step. This guide walks you through the first twelve months. \
Take your medication at the same time every day; most people reach an undetectable viral load within six months. \
Undetectable means untransmittable: with a sustained undetectable viral load, HIV is not passed on to partners.",
        paragraphs: 30,
        pictures: [118, 41],
    },
    Article {
        slug: "healthy-sleep",
        title: "Healthy sleep",
        lede: "Adults need seven to nine hours of sleep. Keep a regular schedule.",
        paragraphs: 26,
        pictures: [70, 35],
    },
    Article {
        slug: "flu-season",
        title: "Flu season is here",
        lede: "Get vaccinated in autumn. Wash your hands often. Stay home when you are ill.",
        paragraphs: 28,
        pictures: [76, 44],
    },
    Article {
        slug: "type-2-diabetes",
        title: "Type 2 diabetes: living well with it",
        lede: "Diabetes is a condition where the amount of sugar in your blood is too high.",
        paragraphs: 34,
        pictures: [96, 33],
    },
    Article {
        slug: "depression",
        title: "Depression: when low mood does not lift",
        lede: "Depression is more than feeling unhappy for a few days; it is an illness, and it can be treated.",
        paragraphs: 32,
        pictures: [84, 58],
    },
    Article {
        slug: "pregnancy-first-weeks",
        title: "Your first weeks of pregnancy",
        lede: "The first trimester brings many changes; here is what to expect and when to see your midwife.",
        paragraphs: 36,
        pictures: [107, 38],
    },
    Article {
        slug: "breast-cancer-screening",
        title: "Breast cancer screening",
        lede: "Screening finds cancers early, before they can be seen or felt.",
        paragraphs: 27,
        pictures: [90, 47],
    },
    Article {
        slug: "alcohol-dependence",
        title: "Alcohol dependence: getting help",
        lede: "If you feel you cannot stop drinking, you are not alone, and help is confidential.",
        paragraphs: 29,
        pictures: [66, 46],
    },
    Article {
        slug: "hepatitis-c",
        title: "Hepatitis C: testing and cure",
        lede: "Hepatitis C can now be cured with a short course of tablets.",
        paragraphs: 33,
        pictures: [125, 52],
    },
    Article {
        slug: "asthma-in-children",
        title: "Asthma in children",
        lede: "Asthma is the most common long-term condition in children; good control means a normal life.",
        paragraphs: 25,
        pictures: [97, 36],
    },
    Article {
        slug: "migraine",
        title: "Migraine: more than a headache",
        lede: "A migraine is a moderate or severe headache felt as a throbbing pain, often with nausea.",
        paragraphs: 31,
        pictures: [112, 60],
    },
    Article {
        slug: "eating-disorders",
        title: "Eating disorders: signs and support",
        lede: "Eating disorders are serious mental illnesses; early support makes recovery more likely.",
        paragraphs: 35,
        pictures: [88, 62],
    },
];

/// Advice every article draws its paragraphs from, in its own order.
const ADVICE: [&str; 16] = [
    "Talk to your doctor or nurse before you change or stop any treatment, even when you feel better.",
    "Write down your questions before an appointment, and bring someone with you if that helps.",
    "Regular physical activity, even a brisk thirty-minute walk five days a week, improves most conditions.",
    "A balanced diet with plenty of vegetables, fruit and whole grains supports your recovery.",
    "Sleep matters: keep regular hours and avoid screens in the hour before bed.",
    "Smoking makes almost every condition worse; free support to stop is available at the clinic.",
    "Keep a diary of your symptoms: when they start, how long they last and what seems to help.",
    "Your records are confidential; only the people caring for you can read them.",
    "Some medicines interact with each other; tell your pharmacist everything you take, herbal remedies included.",
    "Support groups put you in touch with people who have been through the same; ask the reception for a list.",
    "If you feel worse suddenly, or something feels very wrong, call the emergency number at once.",
    "Vaccinations protect you and the people around you; check which ones are due at your next visit.",
    "Look after your mental health as you look after your body; talking to someone is a strength.",
    "Alcohol can interfere with treatment and sleep; keep within the recommended limits.",
    "Follow-up appointments let your care team adjust your treatment; keep them even when you are well.",
    "Reliable information comes from your care team and from health services, not from forums.",
];

impl Article {
    /// The article's path on the site.
    pub fn path(&self) -> String {
        format!("/articles/{}", self.slug)
    }

    /// The paths of its two pictures.
    pub fn picture_paths(&self) -> [String; 2] {
        [format!("/img/{}-hero.png", self.slug), format!("/img/{}-figure.png", self.slug)]
    }

    /// The article's HTML body (inside the site's page template).
    pub fn body(&self) -> String {
        let [hero, figure] = self.picture_paths();
        let mut s =
            format!("<article><h1>{}</h1><img src=\"{hero}\" alt=\"\" width=\"640\"><p>{}</p>", self.title, self.lede);
        let mut seed = seed_of(self.slug);
        for i in 0..self.paragraphs {
            if i == self.paragraphs / 2 {
                s.push_str(&format!(
                    "<figure><img src=\"{figure}\" alt=\"\" width=\"320\"><figcaption>{}</figcaption></figure>",
                    self.title
                ));
            }
            s.push_str("<p>");
            for _ in 0..3 {
                s.push_str(ADVICE[(next(&mut seed) % ADVICE.len() as u64) as usize]);
                s.push(' ');
            }
            s.push_str("</p>");
        }
        s.push_str("</article>");
        s
    }
}

/// The article at `path`.
pub fn by_path(path: &str) -> Option<&'static Article> {
    let slug = path.strip_prefix("/articles/")?;
    ARTICLES.iter().find(|a| a.slug == slug)
}

/// The picture at `path` (a PNG), made once and kept.
pub fn picture(path: &str) -> Option<&'static [u8]> {
    static PICTURES: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    let all = PICTURES.get_or_init(|| {
        ARTICLES
            .iter()
            .flat_map(|a| {
                a.picture_paths().into_iter().zip(a.pictures).map(move |(p, kib)| (p.clone(), png(&p, kib * 1024)))
            })
            .collect()
    });
    all.iter().find(|(p, _)| p == path).map(|(_, b)| b.as_slice())
}

/// Every picture's path.
pub fn picture_paths() -> Vec<String> {
    ARTICLES.iter().flat_map(Article::picture_paths).collect()
}

fn seed_of(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

/// xorshift64*.
fn next(s: &mut u64) -> u64 {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    s.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// A PNG of about `size` bytes: a soft gradient in the picture's own colour with grain,
/// stored uncompressed (so its size is what it says, like a photograph's).
fn png(name: &str, size: usize) -> Vec<u8> {
    const W: usize = 256;
    let row = 1 + W * 3;
    let h = (size.saturating_sub(80) / row).max(1);
    let mut seed = seed_of(name);
    let hue =
        [(next(&mut seed) % 120 + 80) as u8, (next(&mut seed) % 120 + 80) as u8, (next(&mut seed) % 120 + 80) as u8];
    let mut raw = Vec::with_capacity(row * h);
    for y in 0..h {
        raw.push(0);
        for x in 0..W {
            let grain = next(&mut seed);
            for (c, base) in hue.iter().enumerate() {
                let v = *base as usize + (x + y) * 40 / (W + h) + ((grain >> (c * 8)) & 15) as usize;
                raw.push(v.min(255) as u8);
            }
        }
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::none());
    std::io::Write::write_all(&mut z, &raw).expect("writing to a Vec");
    let data = z.finish().expect("writing to a Vec");
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&(W as u32).to_be_bytes());
    ihdr.extend_from_slice(&(h as u32).to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &data);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
}

/// The smallest size `--pad` rounds a body up to.
pub const PAD_FLOOR: usize = 16 << 10;

/// The size `--pad` gives a body of `n` bytes: the next power of two, at least
/// [`PAD_FLOOR`].
pub fn padded_len(n: usize) -> usize {
    n.next_power_of_two().max(PAD_FLOOR)
}

/// `body` padded as `--pad` sends it, where its format has room for filler that changes
/// nothing the reader sees: an HTML or SVG comment, a CSS or script comment, a PNG
/// ancillary chunk. Other bodies (downloads, JSON, DNS messages) are left as they are.
pub fn pad(content_type: &str, mut body: Vec<u8>) -> Vec<u8> {
    let (open, close): (&[u8], &[u8]) = if content_type.starts_with("text/html") || content_type == "image/svg+xml" {
        (b"\n<!--", b"-->\n")
    } else if content_type == "text/css" || content_type == "application/javascript" {
        (b"\n/*", b"*/\n")
    } else if content_type == "image/png" && body.len() >= 20 && body.ends_with(b"IEND\xae\x42\x60\x82") {
        let target = padded_len(body.len() + 12);
        let iend = body.split_off(body.len() - 12);
        let filler = vec![b' '; target - body.len() - 12 - 12];
        chunk(&mut body, b"paDd", &filler);
        body.extend_from_slice(&iend);
        return body;
    } else {
        return body;
    };
    let target = padded_len(body.len() + open.len() + close.len());
    body.extend_from_slice(open);
    body.resize(target - close.len(), b' ');
    body.extend_from_slice(close);
    body
}

/// The body bytes one page load of the article at `path` brings (the page, its stylesheet,
/// script, logo and pictures), as the site sends them to a client that accepts gzip:
/// compressed where the site compresses, or padded with `pad`. What padding costs.
pub fn load_bytes(path: &str, pad: bool) -> u64 {
    let Some(a) = by_path(path) else { return 0 };
    let mut paths = vec![a.path(), "/style.css".into(), "/app.js".into(), "/logo.svg".into()];
    paths.extend(a.picture_paths());
    paths
        .iter()
        .filter_map(|p| super::content::resource(p))
        .map(|r| {
            if pad {
                self::pad(r.content_type, r.body).len() as u64
            } else if r.compressible {
                super::content::gzip(&r.body).len() as u64
            } else {
                r.body.len() as u64
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pictures_are_pngs_of_their_size_and_padding_keeps_them_pngs() {
        for a in &ARTICLES {
            for (p, kib) in a.picture_paths().iter().zip(a.pictures) {
                let png = picture(p).expect("every picture is served");
                let want = kib * 1024;
                assert!(png.len().abs_diff(want) < 1024, "{p}: {} bytes, {want} wanted", png.len());
                let padded = pad("image/png", png.to_vec());
                assert_eq!(padded.len(), padded_len(png.len() + 12));
                for img in [png, &padded[..]] {
                    let decoder = ::png::Decoder::new(std::io::Cursor::new(img));
                    let mut reader = decoder.read_info().expect("a valid PNG");
                    let mut buf = vec![0; reader.output_buffer_size().expect("a size")];
                    reader.next_frame(&mut buf).expect("decodes");
                }
            }
        }
    }

    #[test]
    fn padded_bodies_fall_into_powers_of_two_and_read_the_same() {
        let html = b"<!doctype html><p>hi</p>".to_vec();
        let padded = pad("text/html; charset=utf-8", html.clone());
        assert_eq!(padded.len(), PAD_FLOOR);
        assert!(padded.starts_with(&html) && padded.ends_with(b"-->\n"));
        let big = vec![b'x'; 40_000];
        assert_eq!(pad("text/css", big).len(), 65_536);
        assert_eq!(pad("application/octet-stream", b"#!/bin/sh".to_vec()), b"#!/bin/sh");
    }

    #[test]
    fn every_article_differs_and_links_its_pictures() {
        let mut sizes: Vec<usize> =
            ARTICLES.iter().map(|a| a.body().len() + a.pictures.iter().sum::<usize>() * 1024).collect();
        for a in &ARTICLES {
            let body = a.body();
            for p in a.picture_paths() {
                assert!(body.contains(&p), "{} links {p}", a.slug);
            }
            assert!(by_path(&a.path()).is_some_and(|b| b.slug == a.slug));
        }
        sizes.sort_unstable();
        assert!(sizes.windows(2).all(|w| w[1] - w[0] > 1024), "page loads at least 1 KiB apart: {sizes:?}");
    }
}
