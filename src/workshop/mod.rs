//! `plainsight workshop`: a classroom on one machine. One lab per participant
//! (`W-01` … `W-NN`), each with a *visitor bot* whose persona (name, passwords, flags) is
//! derived from the workshop key and the participant number, so every participant's
//! answers differ; exercises as data ([`exercise`], from `lab/exercises/`); checks from
//! evidence ([`check`]); every check kept in SQLite ([`progress`]).
//!
//! Where things live: the key and `workshop.json` under `/run/plainsight/W/` (root only);
//! each lab's state (persona, bot mode, bot visits) in its own lab state directory;
//! progress under `/var/lib/plainsight/W/`, which survives a reboot and `workshop down`.
//!
//! In the lab's containers (`lab/compose.yaml`, a participant's own laptop) a workshop
//! has one participant, whose lab is the containers': the site and the bot run as jobs
//! on the site and visitor containers ([`crate::lab::container`]), and the commands run
//! in the intruder's.

pub mod bot;
pub mod check;
pub mod desk;
pub mod exercise;
pub mod gate;
pub mod progress;
pub mod sandbox;
pub mod ssh;

/// Prints a line; a closed standard output (`| head -1`) does not stop the command.
pub fn say(line: impl std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{line}");
}

use std::path::PathBuf;

use anyhow::{Context, bail};
use ring::hmac;

use crate::lab::site::content::Persona;
use crate::lab::{Host, Lab, run};

/// The most participants one machine hosts (lab names end in two digits).
pub const MAX_PARTICIPANTS: u16 = 99;

/// Where workshops keep what is theirs (not a lab's).
pub const WORKSHOPS_DIR: &str = "/run/plainsight-workshop";

/// A workshop, by name.
#[derive(Debug, Clone)]
pub struct Workshop {
    pub name: String,
}

/// What `workshop up` recorded.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Recorded {
    pub participants: u16,
    /// Seconds between two visits of each bot (lowest, highest).
    pub bot_interval: (f64, f64),
    /// Each participant's sandbox limits.
    #[serde(default)]
    pub limits: sandbox::Limits,
    /// The workshop's own sshd, when participants log in over SSH.
    #[serde(default)]
    pub ssh: Option<ssh::Settings>,
}

impl Workshop {
    /// A workshop name: a lab name short enough to take `-NN`.
    pub fn new(name: &str) -> anyhow::Result<Workshop> {
        if name.len() > 17 {
            bail!("workshop name {name:?} is too long: at most 17 characters (its labs are named {name}-01 and so on)");
        }
        Lab::new(name)?;
        Ok(Workshop { name: name.to_string() })
    }

    /// The lab of participant `p` (1-based); in the lab's containers, theirs.
    pub fn lab(&self, p: u16) -> Lab {
        if in_containers() {
            return Lab::new("plainsight").expect("a valid name");
        }
        Lab::new(&format!("{}-{p:02}", self.name)).expect("checked by Workshop::new")
    }

    /// Root-only: the key, `workshop.json`, the accounts, the gate's and sshd's files.
    /// Not under `/run/plainsight/`, where the labs keep their state: a workshop named
    /// `w-01` and lab 01 of workshop `w` must not share a folder.
    pub fn dir(&self) -> PathBuf {
        PathBuf::from(WORKSHOPS_DIR).join(&self.name)
    }

    /// What participants' accounts may reach on the machine: the gate's socket, the
    /// plainsight binary their SSH logins run, and the empty folder that is their login
    /// home. Nothing secret.
    pub fn public_dir(&self) -> PathBuf {
        self.dir().join("pub")
    }

    /// ` --name NAME`, or nothing for the default workshop (for commands shown to people).
    pub fn name_flag(&self) -> String {
        if self.name == "workshop" { String::new() } else { format!(" --name {}", self.name) }
    }

    /// The progress database's folder (kept across reboots and `workshop down`).
    pub fn data_dir(&self) -> PathBuf {
        PathBuf::from("/var/lib/plainsight").join(&self.name)
    }

    pub fn recorded(&self) -> anyhow::Result<Recorded> {
        let p = self.dir().join("workshop.json");
        let b = std::fs::read(&p).map_err(|_| {
            anyhow::anyhow!(
                "workshop {} is not up (no {}); start it with `plainsight workshop up --name {}`",
                self.name,
                p.display(),
                self.name
            )
        })?;
        serde_json::from_slice(&b).with_context(|| format!("reading {}", p.display()))
    }

    /// Participant `p` checked against the workshop's size.
    pub fn participant(&self, p: u16) -> anyhow::Result<Lab> {
        let n = self.recorded()?.participants;
        if p == 0 || p > n {
            bail!("workshop {} has participants 1 to {n}, not {p}", self.name);
        }
        Ok(self.lab(p))
    }

    pub fn key(&self) -> anyhow::Result<Key> {
        let p = self.dir().join("key");
        let text = std::fs::read_to_string(&p).map_err(|e| {
            anyhow::anyhow!(
                "reading the workshop key {}: {e} (is workshop {} up? are you root?)",
                p.display(),
                self.name
            )
        })?;
        Ok(Key::new(text.trim()))
    }
}

/// Whether this runs in one of the lab's containers (one participant, the containers' lab).
pub fn in_containers() -> bool {
    crate::lab::container::this_host().is_some()
}

/// The site and bot jobs of a workshop in the lab's containers (`workshop.json`'s sibling).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Jobs {
    site: Option<u32>,
    bot: Option<u32>,
}

impl Jobs {
    fn path(ws: &Workshop) -> PathBuf {
        ws.dir().join("jobs.json")
    }
    fn load(ws: &Workshop) -> Jobs {
        std::fs::read(Jobs::path(ws)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
    }
    fn save(&self, ws: &Workshop) -> anyhow::Result<()> {
        crate::lab::pki::write_file(&Jobs::path(ws), &serde_json::to_string(self)?, 0o600)?;
        Ok(())
    }
}

/// (Re)starts the lab's site with `flags`: in namespaces, as `lab up` does; in the
/// containers, as a job on the site's container.
fn restart_site(ws: &Workshop, lab: &Lab, flags: &[String]) -> anyhow::Result<()> {
    if !in_containers() {
        return run::restart_site(lab, flags);
    }
    let conductor = crate::lab::container::Conductor::resume(&lab.state_dir())?;
    let mut jobs = Jobs::load(ws);
    let old = jobs.site.map(|n| conductor.job(Host::Site, n));
    let hosts = crate::lab::hosts::Hosts::Containers { lab: lab.clone(), conductor, site: std::sync::Mutex::new(old) };
    hosts.restart_site(flags)?;
    if let crate::lab::hosts::Hosts::Containers { site, .. } = &hosts {
        jobs.site = site.lock().expect("site job").as_ref().map(|j| j.number());
    }
    jobs.save(ws)
}

/// Starts participant `p`'s bot in their lab's visitor host.
fn start_bot(ws: &Workshop, lab: &Lab, p: u16, (lo, hi): (f64, f64)) -> anyhow::Result<()> {
    let args: Vec<String> =
        ["workshop", "bot", "--name", &ws.name, "--participant", &p.to_string(), "--interval", &format!("{lo}-{hi}")]
            .iter()
            .map(|s| s.to_string())
            .collect();
    if !in_containers() {
        run::spawn_role(lab, Host::Visitor, "bot", &args)?;
        return Ok(());
    }
    let conductor = crate::lab::container::Conductor::resume(&lab.state_dir())?;
    let mut jobs = Jobs::load(ws);
    if let Some(n) = jobs.bot {
        conductor.stop(&conductor.job(Host::Visitor, n));
    }
    let log = lab.state_dir().join("bot.log");
    let mut argv = vec!["plainsight".to_string()];
    argv.extend(args);
    jobs.bot = Some(
        conductor
            .start(Host::Visitor, &crate::lab::container::JobSpec { argv, stdout: log.clone(), stderr: log })?
            .number(),
    );
    jobs.save(ws)
}

/// Whether participant `p`'s bot runs: its pid (namespaces), its job (containers).
pub fn bot_running(ws: &Workshop, lab: &Lab) -> bool {
    if !in_containers() {
        return bot::pid(lab).is_some();
    }
    let Ok(conductor) = crate::lab::container::Conductor::resume(&lab.state_dir()) else { return false };
    Jobs::load(ws).bot.is_some_and(|n| conductor.exited(&conductor.job(Host::Visitor, n)).is_none())
}

/// The workshop key: every persona, password and flag is an HMAC of it.
pub struct Key(hmac::Key);

const FIRST: [&str; 16] = [
    "alice", "bruno", "chloe", "dmitri", "elena", "farid", "grace", "hugo", "ines", "jonas", "karin", "leila", "marco",
    "nadia", "oscar", "priya",
];
const LAST: [&str; 16] = [
    "Martin",
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Tanaka",
    "Haddad",
    "Novak",
    "Silva",
    "Keller",
    "Rossi",
    "Nguyen",
    "Dubois",
    "Kowalski",
    "Ortega",
    "Berg",
    "Mensah",
];
const WORDS: [&str; 32] = [
    "amber", "basil", "cedar", "delta", "ember", "fjord", "garnet", "harbor", "island", "juniper", "kettle", "lantern",
    "meadow", "nectar", "orbit", "pepper", "quartz", "raven", "saffron", "timber", "umber", "velvet", "willow",
    "xenon", "yarrow", "zephyr", "acorn", "breeze", "canyon", "dune", "echo", "falcon",
];
const CONDITIONS: [&str; 8] = [
    "type 1 diabetes",
    "HIV, under treatment",
    "epilepsy",
    "bipolar disorder",
    "hepatitis C",
    "multiple sclerosis",
    "Crohn's disease",
    "depression, under treatment",
];
/// Sites a handed-out capture's visitor opens over HTTPS: the name alone tells a lot.
const SITES: [&str; 8] = [
    "debt-advice",
    "fertility-clinic",
    "addiction-help",
    "divorce-lawyers",
    "job-search",
    "therapy-online",
    "payday-loans",
    "immigration-aid",
];

impl Key {
    pub fn new(text: &str) -> Key {
        Key(hmac::Key::new(hmac::HMAC_SHA256, text.as_bytes()))
    }

    /// A fresh random key (hex), for `workshop up` without `--key`.
    pub fn generate() -> String {
        let mut b = [0u8; 24];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).expect("system randomness");
        hex::encode(b)
    }

    fn tag(&self, what: &str) -> [u8; 32] {
        let t = hmac::sign(&self.0, what.as_bytes());
        t.as_ref().try_into().expect("SHA-256 tags are 32 bytes")
    }

    /// Participant `p`'s persona while doing `exercise` (empty: before any): the same
    /// person throughout, with a password and a flag of their own for each exercise, so an
    /// answer found in one exercise does not pass another.
    pub fn persona(&self, p: u16, exercise: &str) -> Persona {
        let who = self.tag(&format!("persona/{p}"));
        let first = FIRST[who[0] as usize % FIRST.len()];
        let last = LAST[who[1] as usize % LAST.len()];
        let pw = self.tag(&format!("password/{p}/{exercise}"));
        let password = format!(
            "{} {} {} {}",
            WORDS[pw[0] as usize % 32],
            WORDS[pw[1] as usize % 32],
            WORDS[pw[2] as usize % 32],
            10 + pw[3] as u16 % 90
        );
        let flag = self.tag(&format!("flag/{p}/{exercise}"));
        let mut first_cap = first.to_string();
        first_cap[..1].make_ascii_uppercase();
        Persona {
            username: format!("{first}{:02}", who[2] % 100),
            password,
            full_name: format!("{first_cap} {last}"),
            insurance_no: format!(
                "FR-{} {:02} {:02} {:02} {:03}",
                1 + who[3] % 2,
                who[4] % 100,
                who[5] % 12 + 1,
                who[6] % 95 + 1,
                u16::from(who[7]) * 3
            ),
            diagnosis: CONDITIONS[who[8] as usize % CONDITIONS.len()].to_string(),
            secret: Some(format!("FLAG-{}", hex::encode(&flag[..6]))),
            portal: Some(self.portal(p)),
            article: Some(
                crate::lab::site::articles::ARTICLES[self.tag(&format!("article/{p}/{exercise}"))[0] as usize
                    % crate::lab::site::articles::ARTICLES.len()]
                .slug
                .to_string(),
            ),
        }
    }

    /// The name participant `p`'s bot opens the site by over HTTPS: one of 16 million,
    /// so the `https` exercise's answer is what the sniffer reads, not a guess.
    pub fn portal(&self, p: u16) -> String {
        format!("portal-{}.{}", hex::encode(&self.tag(&format!("portal/{p}"))[..3]), crate::lab::SITE_NAME)
    }

    /// The secret part of participant `p`'s page address (`/p/SECRET`): 128 bits only the
    /// key gives.
    pub fn page_secret(&self, p: u16) -> String {
        hex::encode(&self.tag(&format!("page/{p}"))[..16])
    }

    /// The site participant `p`'s handed-out capture shows a visit to over HTTPS.
    pub fn handout_site(&self, p: u16) -> String {
        let t = self.tag(&format!("handout/{p}"));
        format!("{}-{}.test", SITES[t[0] as usize % SITES.len()], 10 + t[1] % 90)
    }

    /// Whether `answer` equals `expected`, in constant time (HMACs of both compared).
    pub fn same(&self, answer: &str, expected: &str) -> bool {
        let tag = hmac::sign(&self.0, expected.as_bytes());
        hmac::verify(&self.0, answer.as_bytes(), tag.as_ref()).is_ok()
    }
}

/// What `workshop up` is asked for.
#[derive(Debug, Clone)]
pub struct UpOptions {
    pub participants: u16,
    pub key: Option<String>,
    pub bot_interval: (f64, f64),
    pub limits: sandbox::Limits,
    /// Logins over SSH (`--ssh`).
    pub ssh: Option<ssh::Settings>,
}

/// The workshop's key: the one it is up with (another one given is an error), else the
/// one given, else a new one; and the participant count it is up with must not change.
fn key_to_use(ws: &Workshop, o: &UpOptions, key_file: &std::path::Path) -> anyhow::Result<String> {
    let key_text = match (std::fs::read_to_string(key_file).ok(), o.key.as_deref()) {
        (Some(old), Some(new)) if old.trim() != new => {
            bail!("workshop {} is up with another key: `plainsight workshop down{}` first", ws.name, ws.name_flag())
        }
        (Some(old), _) => old.trim().to_string(),
        (None, Some(k)) => k.to_string(),
        (None, None) => Key::generate(),
    };
    if key_text.len() < 8 {
        bail!("--key must be at least 8 characters");
    }
    if let Ok(rec) = ws.recorded()
        && rec.participants != o.participants
    {
        bail!(
            "workshop {} is up with {} participants: `plainsight workshop down{}` first to change that",
            ws.name,
            rec.participants,
            ws.name_flag()
        );
    }
    Ok(key_text)
}

/// In the lab's containers: one participant, whose laptop is their lab.
fn up_in_containers(ws: &Workshop, o: &UpOptions, key: &Key) -> anyhow::Result<()> {
    if o.participants != 1 {
        bail!("in the lab's containers a workshop has one participant: --participants 1");
    }
    if o.ssh.is_some() {
        bail!("in the lab's containers the participant's laptop is their lab: no --ssh");
    }
    let lab = ws.lab(1);
    // A run of its own: the hosts drop what the demo left running and follow it.
    crate::lab::container::Conductor::begin(&lab.state_dir(), std::time::Duration::from_secs(60))?;
    std::fs::remove_file(Jobs::path(ws)).ok();
    if !lab.ca_pem().exists() {
        run::write_pki(&lab)?;
    }
    set_exercise(ws, key, 1, None)?;
    start_bot(ws, &lab, 1, o.bot_interval)?;
    say(format_args!("{} (containers): site up, bot {} visiting", lab.name, key.persona(1, "").full_name));
    Ok(())
}

/// `workshop up`: the key, every participant's lab, persona and bot; then (in
/// namespaces) every participant's account and sandbox, the gate, and the sshd if asked.
pub fn up(ws: &Workshop, o: &UpOptions) -> anyhow::Result<()> {
    let (participants, bot_interval) = (o.participants, o.bot_interval);
    if participants == 0 || participants > MAX_PARTICIPANTS {
        bail!("--participants must be 1 to {MAX_PARTICIPANTS}");
    }
    if o.key.as_ref().is_some_and(|k| k.len() < 8) {
        bail!("--key must be at least 8 characters");
    }
    let dir = ws.dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // Accounts may reach the public folder inside, by its name only.
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o711))?;
    std::fs::create_dir_all(ws.public_dir())?;
    std::fs::set_permissions(ws.public_dir(), std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let key_file = dir.join("key");
    let key_text = key_to_use(ws, o, &key_file)?;
    crate::lab::pki::write_file(&key_file, &key_text, 0o600)?;
    let recorded = Recorded { participants, bot_interval, limits: o.limits, ssh: o.ssh.clone() };
    crate::lab::pki::write_file(&dir.join("workshop.json"), &serde_json::to_string_pretty(&recorded)?, 0o600)?;
    let db = progress::Progress::open(ws)?;
    drop(db);
    let key = Key::new(&key_text);
    if in_containers() {
        return up_in_containers(ws, o, &key);
    }
    for p in 1..=participants {
        let lab = ws.lab(p);
        // Already up: the lab keeps the exercise it is set up for.
        if run::is_up(&lab) && lab.state_dir().join(bot::MODE_FILE).exists() {
            if bot::pid(&lab).is_none() {
                start_bot(ws, &lab, p, bot_interval)?;
            }
            say(format_args!("{}: already up", lab.name));
            continue;
        }
        run::up(&lab, &[])?;
        set_exercise(ws, &key, p, None)?;
        // The capture handed out in the capture exercise, there from the start: the
        // sandbox gets its copy when it is made.
        write_handout(&handout_path(&lab), &key.persona(p, "capture"), &key.handout_site(p))?;
        if bot::pid(&lab).is_none() {
            start_bot(ws, &lab, p, bot_interval)?;
        }
        say(format_args!("{}: lab up, bot {} visiting", lab.name, key.persona(p, "").full_name));
    }
    let accounts = sandbox::create_accounts(ws, participants, o.ssh.as_ref().is_some_and(|s| s.keys.is_none()))?;
    // The plainsight that the participants' logins run: a copy they may execute, as the
    // trainer's may live in a folder only root can enter.
    let exe = ws.public_dir().join("plainsight");
    let tmp = ws.public_dir().join("plainsight.tmp");
    std::fs::copy(std::env::current_exe()?, &tmp).context("copying plainsight for the participants' logins")?;
    std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    std::fs::rename(&tmp, &exe)?;
    gate::start(ws)?;
    say(format_args!("{} sandboxes ready (accounts {} ...)", accounts.len(), sandbox::user_name(ws, 1)));
    if let Some(settings) = &o.ssh {
        ssh::start(ws, settings, &accounts)?;
        say(format_args!(
            "sshd for the participants on port {} (`plainsight workshop handout{}` prints their cards)",
            settings.port,
            ws.name_flag()
        ));
    }
    Ok(())
}

/// Starts participant `p`'s bot unless it runs.
pub fn ensure_bot(ws: &Workshop, lab: &Lab, p: u16) -> anyhow::Result<()> {
    if bot_running(ws, lab) {
        return Ok(());
    }
    let interval = ws.recorded().map(|r| r.bot_interval).unwrap_or((10.0, 20.0));
    start_bot(ws, lab, p, interval)
}

/// Sets participant `p`'s lab up for `exercise` (None: the start): the persona's password
/// and flag for it, the site's settings, the bot's behaviour.
pub fn set_exercise(ws: &Workshop, key: &Key, p: u16, ex: Option<&exercise::Exercise>) -> anyhow::Result<()> {
    let lab = ws.lab(p);
    let state = lab.state_dir();
    let id = ex.map(|e| e.id.as_str()).unwrap_or("");
    let persona = key.persona(p, id);
    crate::lab::pki::write_file(
        &state.join(crate::lab::site::content::PERSONA_FILE),
        &serde_json::to_string_pretty(&persona)?,
        0o600,
    )?;
    let site_flags: Vec<String> = ex.map(|e| e.site.clone()).unwrap_or_default();
    restart_site(ws, &lab, &site_flags)?;
    if ex.is_some_and(|e| e.check == check::Kind::Capture) {
        write_handout(&handout_path(&lab), &persona, &key.handout_site(p))?;
    }
    let mode = bot::Mode {
        exercise: id.to_string(),
        start: ex.map(|e| e.bot).unwrap_or(bot::Start::Bare),
        since_ms: bot::now_ms(),
    };
    crate::lab::pki::write_file(&state.join(bot::MODE_FILE), &serde_json::to_string(&mode)?, 0o600)?;
    Ok(())
}

/// The capture handed out to participant `p` (exercise kind `capture`).
pub fn handout_path(lab: &Lab) -> PathBuf {
    lab.state_dir().join("handout.pcap")
}

/// A capture of someone else's evening on a hotel Wi-Fi: a sign-in to clinic.test over
/// plain HTTP and a visit over HTTPS to a site whose name alone tells a lot.
fn write_handout(path: &std::path::Path, persona: &Persona, site: &str) -> anyhow::Result<()> {
    use crate::analysis::synth::{Conversation, app_data, client_hello, dns_query, server_hello, udp_frame};
    let a = |s: &str| s.parse::<std::net::SocketAddrV4>().expect("literal");
    let mut frames = vec![
        udp_frame(a("192.0.2.10:5353"), a("198.51.100.10:53"), &dns_query(1, crate::lab::SITE_NAME)),
        udp_frame(a("192.0.2.10:5354"), a("198.51.100.10:53"), &dns_query(2, site)),
    ];
    let mut c = Conversation::new(a("192.0.2.10:40000"), a("198.51.100.10:80"), 1000, 50_000, 1400);
    c.handshake();
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("username", &persona.username)
        .append_pair("password", "(not this one)")
        .finish();
    c.send(true, format!("POST /login HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}", crate::lab::SITE_NAME, form.len()).as_bytes());
    c.send(false, b"HTTP/1.1 401 Unauthorized\r\nContent-Type: text/html\r\nContent-Length: 27\r\n\r\n<title>Wrong password</title>");
    c.close();
    let mut t = Conversation::new(a("192.0.2.10:40001"), a("198.51.100.77:443"), 7, 9, 1400);
    t.handshake();
    t.send(true, &client_hello(site));
    t.send(false, &server_hello());
    t.send(true, &app_data(420));
    t.send(false, &app_data(9000));
    t.close();
    for conv in [&c, &t] {
        frames.extend(conv.segments.iter().map(|s| conv.frame(s)));
    }
    let f = std::fs::File::create(path).with_context(|| format!("writing {}", path.display()))?;
    let mut w = crate::analysis::capture::write::PcapWriter::new(std::io::BufWriter::new(f))?;
    let mut ts = 1_790_000_000_000_000i64;
    for fr in &frames {
        ts += 1500;
        w.packet(ts, fr)?;
    }
    std::io::Write::flush(&mut w.into_inner())?;
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
    Ok(())
}

/// `workshop down`: the sshd, the gate and every sandbox, the accounts and their homes,
/// the cgroups, every participant's lab and bot, and the key. Progress stays. In the
/// lab's containers, the site and bot jobs (`docker compose down -v` removes the rest).
pub fn down(ws: &Workshop) -> anyhow::Result<Vec<String>> {
    let mut removed = Vec::new();
    if in_containers() {
        let lab = ws.lab(1);
        if let Ok(conductor) = crate::lab::container::Conductor::resume(&lab.state_dir()) {
            let jobs = Jobs::load(ws);
            for (host, n) in [(Host::Visitor, jobs.bot), (Host::Site, jobs.site)] {
                if let Some(n) = n {
                    conductor.stop(&conductor.job(host, n));
                }
            }
            removed.push(lab.name);
        }
        let _ = std::fs::remove_dir_all(ws.dir());
        return Ok(removed);
    }
    let n = ws.recorded().map(|r| r.participants).unwrap_or(MAX_PARTICIPANTS);
    ssh::stop(ws);
    gate::stop(ws);
    sandbox::remove_accounts(ws, n);
    for p in 1..=n {
        sandbox::Cgroup::of(ws, p).remove();
    }
    for p in 1..=n {
        let lab = ws.lab(p);
        if !run::existing(&lab).is_empty() || lab.state_dir().exists() {
            run::down(&lab)?;
            removed.push(lab.name);
        }
    }
    let _ = std::fs::remove_dir_all(ws.dir());
    Ok(removed)
}

/// `workshop status`: each lab, its bot, what it is set up for, its last visit; the gate
/// and the sshd. The flag says whether everything runs (`workshop status` exits 1 if not).
pub fn status(ws: &Workshop) -> anyhow::Result<(String, bool)> {
    use std::fmt::Write;
    let rec = ws.recorded()?;
    let mut healthy = true;
    let mut out = format!(
        "workshop {}: {} participants, progress in {}\n",
        ws.name,
        rec.participants,
        ws.data_dir().join(progress::FILE).display()
    );
    if !in_containers() {
        let gate = gate::running(ws).is_some();
        healthy &= gate;
        let _ = writeln!(
            out,
            "  gate (sandboxes, checker): {}",
            if gate { "running" } else { "NOT running (`plainsight workshop up` again starts it)" }
        );
        if let Some(s) = &rec.ssh {
            let sshd = ssh::running(ws).is_some();
            healthy &= sshd;
            let _ = writeln!(out, "  sshd on port {}: {}", s.port, if sshd { "running" } else { "NOT running" });
        }
    }
    for p in 1..=rec.participants {
        let lab = ws.lab(p);
        let lab_up = in_containers() || run::is_up(&lab);
        let bot_up = bot_running(ws, &lab);
        healthy &= lab_up && bot_up;
        let up = if in_containers() {
            "in containers"
        } else if lab_up {
            "up"
        } else {
            "DOWN"
        };
        let bot = if bot_up { "bot running" } else { "bot NOT running" };
        let mode = bot::Mode::of(&lab);
        let exercise = if mode.exercise.is_empty() {
            "(no exercise yet)".to_string()
        } else {
            format!("exercise {}", mode.exercise)
        };
        let last = bot::visits(&lab)
            .last()
            .map(|v| format!("last visit {} s ago: {}", (bot::now_ms().saturating_sub(v.at_ms)) / 1000, v.summary()))
            .unwrap_or_else(|| "no visit yet".into());
        let _ = writeln!(out, "  {:>2}  {}  lab {up}, {bot}, {exercise}, {last}", p, lab.name);
    }
    Ok((out, healthy))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workshops_folder_is_never_a_labs() {
        // Workshop `w-01` and lab 01 of workshop `w` once shared /run/plainsight/w-01:
        // `workshop down --name w-01` deleted the other workshop's lab.
        let w = Workshop::new("w").unwrap();
        let w01 = Workshop::new("w-01").unwrap();
        for p in 1..=MAX_PARTICIPANTS {
            for ws in [&w, &w01] {
                assert_ne!(ws.lab(p).state_dir(), w01.dir());
                assert_ne!(ws.lab(p).state_dir(), w.dir());
                assert!(!ws.lab(p).state_dir().starts_with(w01.dir()) && !ws.lab(p).state_dir().starts_with(w.dir()));
            }
        }
        assert_ne!(w01.data_dir(), w.lab(1).state_dir());
    }
}
