//! `report.html` as a browser shows it: Chromium lays out a copy with a measuring script
//! appended (the report itself has none) at a projector's 1280×720 and reports what it
//! rendered; Chromium's own network log says whether the page fetched anything.

use std::path::Path;
use std::process::Command;

/// What the measuring script reads from the rendered page.
const MEASURE: &str = r##"<script>(function(){
const r={};
const g=document.querySelector('table.grid').getBoundingClientRect();
r.grid={top:g.top,bottom:g.bottom,left:g.left,right:g.right};
r.viewport={w:window.innerWidth,h:window.innerHeight};
r.scroll_width=document.documentElement.scrollWidth;
let min=1e9;
document.querySelectorAll('table.grid, table.grid *').forEach(e=>{
  if([...e.childNodes].some(n=>n.nodeType==3&&n.textContent.trim())){min=Math.min(min,parseFloat(getComputedStyle(e).fontSize));}
});
r.min_font=min;
const cells=[...document.querySelectorAll('table.grid tbody td')];
r.cells=cells.length;
r.cells_without_link=cells.filter(td=>!td.querySelector('a[href^="#"]')).length;
r.cells_without_symbol=cells.filter(td=>!td.querySelector('.sym')||!td.querySelector('.sym').textContent.trim()).length;
r.rows=document.querySelectorAll('table.grid tbody tr').length;
r.broken=[...document.querySelectorAll('a[href]')].map(a=>a.getAttribute('href'))
  .filter(h=>!h.startsWith('#')||!document.getElementById(decodeURIComponent(h.slice(1))));
r.scripts=document.scripts.length;
r.handlers=[...document.querySelectorAll('*')].filter(e=>[...e.attributes].some(a=>a.name.startsWith('on'))).length;
r.external=[...document.querySelectorAll('[src],[href]')].map(e=>e.getAttribute('src')||e.getAttribute('href'))
  .filter(u=>!u.startsWith('#')&&!u.startsWith('data:')).length;
r.resources=performance.getEntriesByType('resource').length;
r.sections={};
document.querySelectorAll('section.scenario').forEach(s=>{r.sections[s.id]={
  network:!!s.querySelector('svg.network'),handshake:s.querySelectorAll('svg.handshake').length,
  sizes:s.querySelectorAll('figure.sizes svg').length,timeline:!!s.querySelector('svg.timeline'),
  pages:!!s.querySelector('.pages iframe, .pages img'),heading:s.querySelector('h2').innerText}});
r.text=document.body.innerText;
document.body.setAttribute('data-measured',btoa(unescape(encodeURIComponent(JSON.stringify(r)))));
})();</script>"##;

/// What Chromium rendered, and the URLs it requested besides the file itself and its own
/// background services.
pub struct Rendered {
    pub measured: serde_json::Value,
    pub requests: Vec<String>,
}

/// Renders `report` at 1280×720 in headless Chromium.
pub fn render(chromium: &str, report: &Path) -> Rendered {
    let dir = super::tmp("rendered");
    std::fs::create_dir_all(&dir).unwrap();
    let html = std::fs::read_to_string(report).unwrap();
    assert!(!html.contains("<script"), "report.html carries a script");
    let copy = dir.join("measured.html");
    std::fs::write(&copy, html.replacen("</body>", &format!("{MEASURE}</body>"), 1)).unwrap();
    let netlog = dir.join("netlog.json");
    // Where it can, Chromium runs in a network namespace of its own with nothing in it:
    // its own background services (Google's time and account checks) then reach nobody.
    let isolated = Command::new("unshare").args(["--net", "true"]).status().is_ok_and(|s| s.success());
    let mut cmd = if isolated { Command::new("unshare") } else { Command::new(chromium) };
    if isolated {
        cmd.args(["--net", "--", chromium]);
    }
    let out = cmd
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars"])
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
        .args(["--window-size=1280,720", "--virtual-time-budget=2000", "--dump-dom"])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("--log-net-log={}", netlog.display()))
        .arg(format!("file://{}", copy.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let encoded = dom
        .split("data-measured=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("the measuring script did not run: {}", String::from_utf8_lossy(&out.stderr)));
    use base64::Engine;
    let json = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
    let log = std::fs::read_to_string(&netlog).unwrap_or_default();
    let requests = log
        .split("\"url\":\"")
        .skip(1)
        .filter_map(|r| r.split('"').next())
        .filter(|u| !u.starts_with("file://") && !u.starts_with("data:") && !u.is_empty())
        // Chromium's own background services, which no page asks for (the page's
        // references are counted above: none points outside it).
        .filter(|u| {
            let host = u.split("://").nth(1).and_then(|r| r.split(['/', ':', '?']).next()).unwrap_or("");
            !["google.com", "googleapis.com", "gstatic.com", "gvt1.com"]
                .iter()
                .any(|g| host == *g || host.ends_with(&format!(".{g}")))
        })
        .map(str::to_string)
        .collect();
    std::fs::remove_dir_all(&dir).ok();
    Rendered { measured: serde_json::from_slice(&json).unwrap(), requests }
}

/// The checks the issue sets for the first screen: the grid inside the first viewport,
/// no horizontal scroll, its text at least 16 px, every cell a symbol and a link to an
/// element that exists, nothing fetched, no script or handler.
pub fn check_first_screen(r: &Rendered, scenarios: usize) {
    let m = &r.measured;
    let f = |v: &serde_json::Value| v.as_f64().unwrap();
    assert!(
        f(&m["grid"]["top"]) >= 0.0 && f(&m["grid"]["bottom"]) <= 720.0,
        "grid outside the first screen: {}",
        m["grid"]
    );
    assert!(f(&m["grid"]["right"]) <= 1280.0, "grid wider than the screen: {}", m["grid"]);
    assert!(
        f(&m["scroll_width"]) <= f(&m["viewport"]["w"]),
        "horizontal scroll: {} > {}",
        m["scroll_width"],
        m["viewport"]["w"]
    );
    assert!(f(&m["min_font"]) >= 16.0, "grid text smaller than 16 px: {}", m["min_font"]);
    assert_eq!(m["rows"].as_u64().unwrap() as usize, scenarios, "one row a scenario");
    assert!(m["cells"].as_u64().unwrap() as usize >= scenarios * 10, "cells: {}", m["cells"]);
    assert_eq!(m["cells_without_link"], 0, "every cell links to its evidence");
    assert_eq!(m["cells_without_symbol"], 0, "every cell has a symbol, not colour alone");
    assert_eq!(m["broken"].as_array().unwrap().len(), 0, "links to nothing: {}", m["broken"]);
    assert_eq!(m["scripts"], 1, "only the measuring script runs");
    assert_eq!(m["handlers"], 0, "an element carries an event handler");
    assert_eq!(m["external"], 0, "the page references something outside itself");
    assert_eq!(m["resources"], 0, "the page fetched resources");
    assert!(r.requests.is_empty(), "Chromium requested: {:?}", r.requests);
}

/// The grid's cell colours in `report.css` (✗ and ✓), as a screenshot shows them.
const BAD_BG: (u8, u8, u8) = (0xfd, 0xe2, 0xe4);
const GOOD_BG: (u8, u8, u8) = (0xdf, 0xf3, 0xe4);

/// Firefox ESR's headless screenshot of the first screen (1280×720): it shows the grid's
/// cells, both colours, and a column of cells shows a row for every scenario. Headless
/// Firefox runs no measuring script, so the check is by pixel.
pub fn check_first_screen_in_firefox(report: &Path, scenarios: usize) {
    if !super::have_tool("firefox-esr", "report: the first screen in Firefox ESR") {
        return;
    }
    let dir = super::tmp("firefox");
    std::fs::create_dir_all(dir.join("profile")).unwrap();
    let png = dir.join("first.png");
    let isolated = Command::new("unshare").args(["--net", "true"]).status().is_ok_and(|s| s.success());
    let mut cmd = if isolated { Command::new("unshare") } else { Command::new("firefox-esr") };
    if isolated {
        cmd.args(["--net", "--", "firefox-esr"]);
    }
    let out = cmd
        .args(["--headless", "--no-remote", "--window-size=1280,720", "--profile"])
        .arg(dir.join("profile"))
        .arg("--screenshot")
        .arg(&png)
        .arg(format!("file://{}", std::fs::canonicalize(report).unwrap().display()))
        .output()
        .unwrap();
    assert!(png.exists(), "no screenshot from Firefox: {}", String::from_utf8_lossy(&out.stderr));
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1280, 720), "Firefox's window");
    let step = info.color_type.samples();
    let width = info.width as usize;
    let colour = |x: usize, y: usize| {
        let i = (y * width + x) * step;
        (buf[i], buf[i + 1], buf[i + 2])
    };
    let (mut bad, mut good) = (0usize, 0usize);
    for y in 0..720 {
        for x in 0..width {
            match colour(x, y) {
                BAD_BG => bad += 1,
                GOOD_BG => good += 1,
                _ => {}
            }
        }
    }
    assert!(
        bad > 20_000 && good > 20_000,
        "the grid's cells are not on Firefox's first screen ({bad} ✗, {good} ✓ pixels)"
    );
    // Down a column of cells, each row of the grid is a band of cell colour between
    // borders: a whole grid on the first screen shows one band a scenario.
    let bands = (0..width)
        .step_by(4)
        .map(|x| {
            let cell = |y: usize| matches!(colour(x, y), BAD_BG | GOOD_BG);
            (1..720).filter(|&y| cell(y) && !cell(y - 1)).count()
        })
        .max()
        .unwrap_or(0);
    assert!(bands >= scenarios, "Firefox's first screen shows {bands} rows of cells, not all {scenarios}");
    std::fs::remove_dir_all(&dir).ok();
}
