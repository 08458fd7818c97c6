//! Every check, its time and result, in SQLite under `/var/lib/plainsight/W/`: it survives
//! a reboot and `workshop down`, and concurrent checks lose nothing (WAL journal, each
//! check one transaction, writers wait for one another up to 30 s).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use rusqlite::{Connection, params};

use super::Workshop;

pub const FILE: &str = "progress.db";

pub struct Progress {
    db: Connection,
}

/// One participant's state on one exercise.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Cell {
    pub passed: bool,
    pub attempts: u32,
    /// When it passed, or the last attempt (ms since the epoch).
    pub at_ms: u64,
}

impl Progress {
    pub fn open(ws: &Workshop) -> anyhow::Result<Progress> {
        let dir = ws.data_dir();
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        Progress::at(&dir.join(FILE))
    }

    /// The progress of a workshop that has some (to read it: never creates one).
    pub fn existing(ws: &Workshop) -> anyhow::Result<Progress> {
        let path = ws.data_dir().join(FILE);
        if !path.exists() {
            anyhow::bail!(
                "workshop {} has no progress yet ({} does not exist; `plainsight workshop up --name {}` creates it)",
                ws.name,
                path.display(),
                ws.name
            );
        }
        Progress::at(&path)
    }

    pub fn at(path: &Path) -> anyhow::Result<Progress> {
        let db = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
        db.busy_timeout(Duration::from_secs(30))?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "NORMAL")?;
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS checks (
                id INTEGER PRIMARY KEY,
                participant INTEGER NOT NULL,
                exercise TEXT NOT NULL,
                at_ms INTEGER NOT NULL,
                passed INTEGER NOT NULL,
                reason TEXT NOT NULL
            );
            CREATE INDEX IF NOT EXISTS checks_by_who ON checks (participant, exercise);
            CREATE TABLE IF NOT EXISTS shown (
                id INTEGER PRIMARY KEY,
                participant INTEGER NOT NULL,
                exercise TEXT NOT NULL,
                at_ms INTEGER NOT NULL
            );",
        )?;
        Ok(Progress { db })
    }

    /// Records one check.
    pub fn record(&self, participant: u16, exercise: &str, passed: bool, reason: &str) -> anyhow::Result<()> {
        self.db.execute(
            "INSERT INTO checks (participant, exercise, at_ms, passed, reason) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![participant, exercise, super::bot::now_ms() as i64, passed, reason],
        )?;
        Ok(())
    }

    /// Records that a participant was shown an exercise (their lab set up for it).
    pub fn shown(&self, participant: u16, exercise: &str) -> anyhow::Result<()> {
        self.db.execute(
            "INSERT INTO shown (participant, exercise, at_ms) VALUES (?1, ?2, ?3)",
            params![participant, exercise, super::bot::now_ms() as i64],
        )?;
        Ok(())
    }

    /// Each participant's latest exercise shown and when: participant -> (exercise, ms).
    pub fn current(&self) -> anyhow::Result<BTreeMap<u16, (String, u64)>> {
        let mut q = self.db.prepare("SELECT participant, exercise, at_ms FROM shown WHERE id IN (SELECT MAX(id) FROM shown GROUP BY participant)")?;
        let rows =
            q.query_map([], |r| Ok((r.get::<_, u16>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)? as u64)))?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (p, ex, at) = row?;
            out.insert(p, (ex, at));
        }
        Ok(out)
    }

    /// When each participant was first shown each exercise: (participant, exercise) -> ms.
    pub fn first_shown(&self) -> anyhow::Result<BTreeMap<(u16, String), u64>> {
        let mut q =
            self.db.prepare("SELECT participant, exercise, MIN(at_ms) FROM shown GROUP BY participant, exercise")?;
        let rows =
            q.query_map([], |r| Ok(((r.get::<_, u16>(0)?, r.get::<_, String>(1)?), r.get::<_, i64>(2)? as u64)))?;
        rows.collect::<Result<_, _>>().map_err(Into::into)
    }

    /// Failed checks of one participant on one exercise (for the next hint).
    pub fn failures(&self, participant: u16, exercise: &str) -> anyhow::Result<u32> {
        Ok(self.db.query_row(
            "SELECT COUNT(*) FROM checks WHERE participant = ?1 AND exercise = ?2 AND passed = 0",
            params![participant, exercise],
            |r| r.get(0),
        )?)
    }

    /// Failed checks of one participant on one exercise, and when the last one was (ms
    /// since the epoch; 0 when none).
    pub fn failures_and_last(&self, participant: u16, exercise: &str) -> anyhow::Result<(u32, u64)> {
        Ok(self.db.query_row("SELECT COUNT(*), COALESCE(MAX(at_ms), 0) FROM checks WHERE participant = ?1 AND exercise = ?2 AND passed = 0", params![participant, exercise], |r| Ok((r.get::<_, u32>(0)?, r.get::<_, i64>(1)? as u64)))?)
    }

    /// participant -> exercise -> cell.
    pub fn table(&self) -> anyhow::Result<BTreeMap<u16, BTreeMap<String, Cell>>> {
        let mut q = self.db.prepare("SELECT participant, exercise, COUNT(*), MAX(passed), COALESCE(MIN(CASE WHEN passed = 1 THEN at_ms END), MAX(at_ms)) FROM checks GROUP BY participant, exercise")?;
        let rows = q.query_map([], |r| {
            Ok((
                r.get::<_, u16>(0)?,
                r.get::<_, String>(1)?,
                Cell { attempts: r.get(2)?, passed: r.get::<_, i64>(3)? == 1, at_ms: r.get::<_, i64>(4)? as u64 },
            ))
        })?;
        let mut out: BTreeMap<u16, BTreeMap<String, Cell>> = BTreeMap::new();
        for row in rows {
            let (p, ex, cell) = row?;
            out.entry(p).or_default().insert(ex, cell);
        }
        Ok(out)
    }

    /// Every check recorded.
    pub fn count(&self) -> anyhow::Result<u64> {
        Ok(self.db.query_row("SELECT COUNT(*) FROM checks", [], |r| r.get::<_, i64>(0))? as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_writers_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        Progress::at(&path).unwrap();
        let threads: Vec<_> = (1..=8u16)
            .map(|p| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let db = Progress::at(&path).unwrap();
                    for i in 0..25 {
                        db.record(p, "password", i == 24, "test").unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let db = Progress::at(&path).unwrap();
        assert_eq!(db.count().unwrap(), 200);
        let t = db.table().unwrap();
        assert_eq!(t.len(), 8);
        assert!(t[&3]["password"].passed && t[&3]["password"].attempts == 25);
        assert_eq!(db.failures(3, "password").unwrap(), 24);
    }
}
