//! The workshop's own sshd: participants log in from their laptops, straight into their
//! sandbox.
//!
//! Debian's OpenSSH server, started beside (never instead of) the machine's own, with a
//! configuration file of the workshop's (its own port, host key, pid file): every login
//! runs `plainsight workshop enter` (`ForceCommand`), which hands the participant's
//! terminal to the gate ([`super::gate`]); no port, agent, X11 or stream forwarding, no
//! tunnels, no user rc or environment; SFTP goes through the same command, so it too runs
//! inside the sandbox. Only the workshop's accounts may log in.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};

use super::Workshop;
use super::sandbox::Account;

/// How participants log in.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Settings {
    pub port: u16,
    /// The address sshd listens on (default: every address).
    pub listen: String,
    /// A folder of public keys named by participant (`1.pub`, `01.pub` or `USER.pub`):
    /// keys instead of passwords.
    pub keys: Option<PathBuf>,
}

const SSHD: &str = "/usr/sbin/sshd";

fn dir(ws: &Workshop) -> PathBuf {
    ws.dir().join("sshd")
}

fn keys_dir(ws: &Workshop) -> PathBuf {
    ws.public_dir().join("keys")
}

/// The sshd configuration for `accounts`.
pub fn config(ws: &Workshop, s: &Settings, accounts: &[Account]) -> String {
    let d = dir(ws);
    let users: Vec<&str> = accounts.iter().map(|a| a.user.as_str()).collect();
    format!(
        "# The sshd of plainsight workshop {name}: participants only, each into their sandbox.\n\
Port {port}\nListenAddress {listen}\nHostKey {d}/host_ed25519\nPidFile {d}/sshd.pid\n\
UsePAM yes\nPasswordAuthentication {pw}\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
AuthorizedKeysFile {keys}/%u\nPermitRootLogin no\nPermitEmptyPasswords no\nAllowUsers {users}\n\
DisableForwarding yes\nAllowTcpForwarding no\nAllowStreamLocalForwarding no\nAllowAgentForwarding no\n\
X11Forwarding no\nPermitTunnel no\nGatewayPorts no\nPermitUserRC no\nPermitUserEnvironment no\n\
PrintMotd no\nPrintLastLog no\nStrictModes yes\nLoginGraceTime 30\nMaxAuthTries 6\nMaxStartups 60:30:200\n\
ClientAliveInterval 30\nClientAliveCountMax 4\n\
ForceCommand {exe} workshop enter --name {name}\nSubsystem sftp /usr/lib/openssh/sftp-server\n",
        name = ws.name,
        port = s.port,
        listen = s.listen,
        d = d.display(),
        pw = if s.keys.is_some() { "no" } else { "yes" },
        keys = keys_dir(ws).display(),
        users = users.join(" "),
        exe = ws.public_dir().join("plainsight").display(),
    )
}

/// Writes the configuration, the host key and the participants' keys, and starts sshd;
/// returns once it accepts connections.
pub fn start(ws: &Workshop, s: &Settings, accounts: &[Account]) -> anyhow::Result<()> {
    if !Path::new(SSHD).exists() {
        bail!("--ssh needs Debian's OpenSSH server: apt-get install openssh-server");
    }
    if running(ws).is_some() {
        return Ok(());
    }
    let d = dir(ws);
    std::fs::create_dir_all(&d)?;
    std::fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    // sshd's privilege separation folder (Debian makes it at boot; a container may not).
    std::fs::create_dir_all("/run/sshd")?;
    let key = d.join("host_ed25519");
    if !key.exists() {
        let out = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", &format!("plainsight-workshop-{}", ws.name), "-f"])
            .arg(&key)
            .output()
            .context("running ssh-keygen")?;
        if !out.status.success() {
            bail!("ssh-keygen: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
    }
    let kd = keys_dir(ws);
    std::fs::create_dir_all(&kd)?;
    std::fs::set_permissions(&kd, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    for a in accounts {
        let path = kd.join(&a.user);
        match &s.keys {
            Some(from) => {
                let candidates =
                    [format!("{}.pub", a.participant), format!("{:02}.pub", a.participant), format!("{}.pub", a.user)];
                let found = candidates.iter().map(|c| from.join(c)).find(|p| p.is_file()).with_context(|| {
                    format!(
                        "no public key for participant {} in {} (one of {})",
                        a.participant,
                        from.display(),
                        candidates.join(", ")
                    )
                })?;
                let text = std::fs::read_to_string(&found).with_context(|| format!("reading {}", found.display()))?;
                if !text.lines().any(|l| l.starts_with("ssh-") || l.starts_with("ecdsa-") || l.starts_with("sk-")) {
                    bail!("{} holds no OpenSSH public key", found.display());
                }
                crate::lab::pki::write_file(&path, &text, 0o644)?;
            }
            None => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    let conf = d.join("sshd_config");
    crate::lab::pki::write_file(&conf, &config(ws, s, accounts), 0o600)?;
    let test = std::process::Command::new(SSHD).args(["-t", "-f"]).arg(&conf).output()?;
    if !test.status.success() {
        bail!("sshd refuses its configuration {}: {}", conf.display(), String::from_utf8_lossy(&test.stderr).trim());
    }
    let log = d.join("sshd.log");
    let out =
        std::process::Command::new(SSHD).arg("-f").arg(&conf).arg("-E").arg(&log).output().context("starting sshd")?;
    if !out.status.success() {
        bail!(
            "sshd did not start: {}{}",
            String::from_utf8_lossy(&out.stderr).trim(),
            std::fs::read_to_string(&log).unwrap_or_default().trim()
        );
    }
    // Ready when it accepts.
    let addr = if s.listen == "0.0.0.0" || s.listen == "::" { "127.0.0.1".to_string() } else { s.listen.clone() };
    let target: std::net::SocketAddr = format!("{addr}:{}", s.port)
        .parse()
        .or_else(|_| format!("[{addr}]:{}", s.port).parse())
        .context("the listen address")?;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect_timeout(&target, Duration::from_millis(200)).is_err() {
        if std::time::Instant::now() > deadline {
            bail!("sshd does not accept on {target}: see {}", log.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// The workshop's sshd's pid, when it runs.
pub fn running(ws: &Workshop) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(dir(ws).join("sshd.pid")).ok()?.trim().parse().ok()?;
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let conf = dir(ws).join("sshd_config");
    String::from_utf8_lossy(&cmd).contains(conf.to_str()?).then_some(pid)
}

/// Stops the workshop's sshd (the logins end with the accounts, in `workshop down`).
pub fn stop(ws: &Workshop) {
    if let Some(pid) = running(ws) {
        crate::lab::proc::terminate_pids(&[pid], Duration::from_secs(5));
    }
}

/// One participant's card: how to log in and where their page is.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Card {
    pub participant: u16,
    pub user: String,
    /// None when they log in with their own key (or not over SSH).
    pub password: Option<String>,
    pub host: String,
    /// None when the workshop takes no SSH logins (`workshop shell N` on the trainer's
    /// machine instead).
    pub port: Option<u16>,
    pub page: String,
}

/// Every participant's card; `host` is the address participants reach the machine at,
/// `view` the address of `workshop serve`.
pub fn handout(ws: &Workshop, host: &str, view: &str) -> anyhow::Result<Vec<Card>> {
    let rec = ws.recorded()?;
    let port = rec.ssh.map(|s| s.port);
    let key = ws.key()?;
    let accounts = super::sandbox::accounts(ws);
    Ok(accounts
        .iter()
        .map(|a| Card {
            participant: a.participant,
            user: a.user.clone(),
            password: a.password.clone(),
            host: host.to_string(),
            port,
            page: format!("{}/p/{}", view.trim_end_matches('/'), key.page_secret(a.participant)),
        })
        .collect())
}

/// The addresses of the machine that a laptop may reach (global IPv4 ones), read with `ip`.
pub fn reachable_addresses() -> Vec<String> {
    let out = std::process::Command::new("ip").args(["-4", "-o", "addr", "show", "scope", "global"]).output();
    let text = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split_whitespace().skip_while(|w| *w != "inet").nth(1))
        .filter_map(|a| a.split('/').next())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_forwards_nothing_and_forces_the_sandbox() {
        let ws = Workshop::new("w").unwrap();
        let a = Account { participant: 1, user: "ps-w-01".into(), uid: 1001, gid: 1001, password: Some("x".into()) };
        let c = config(&ws, &Settings { port: 2222, listen: "0.0.0.0".into(), keys: None }, &[a]);
        for line in [
            "Port 2222",
            "DisableForwarding yes",
            "AllowTcpForwarding no",
            "X11Forwarding no",
            "PermitTunnel no",
            "AllowAgentForwarding no",
            "PermitRootLogin no",
            "AllowUsers ps-w-01",
            "PermitUserRC no",
            "PasswordAuthentication yes",
        ] {
            assert!(c.lines().any(|l| l == line), "{line} missing in:\n{c}");
        }
        assert!(c.contains("ForceCommand /run/plainsight-workshop/w/pub/plainsight workshop enter --name w"));
        let keyed = config(&ws, &Settings { port: 2222, listen: "0.0.0.0".into(), keys: Some("/k".into()) }, &[]);
        assert!(keyed.lines().any(|l| l == "PasswordAuthentication no"));
    }
}
