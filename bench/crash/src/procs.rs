//! The processes a round kills: the real `keyport` binary, and a private PostgreSQL cluster (its own `initdb`
//! directory and port, so the machine's shared PostgreSQL, which other tests use, is never restarted).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub type Result<T> = std::result::Result<T, String>;

/// A free loopback port (bound, read, released).
pub fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// One `keyport serve` process.
pub struct Keyport {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Keyport {
    /// Starts `bin serve` with `config` on `data_dir` (and `database_url`, when PostgreSQL), listening on
    /// `port`, and waits for its "listening" line.
    pub fn start(
        bin: &Path,
        config: &Path,
        data_dir: &Path,
        database_url: Option<&str>,
        port: u16,
    ) -> Result<Keyport> {
        // The server's own log (database errors in the rounds that kill the database are expected) goes next
        // to its data, appended across restarts.
        let log = data_dir.with_file_name("keyport.log");
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .arg("--config")
            .arg(config)
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .env("KEYPORT_LOG", "warn")
            .env("KEYPORT_ADMIN_PASSWORD", "crash-admin-password-0123")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        if let Some(url) = database_url {
            cmd.arg("--database-url").arg(url);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let first = match lines.next() {
            Some(Ok(line)) => line,
            _ => {
                let status = child.wait().map_err(|e| e.to_string())?;
                return Err(format!("keyport exited before listening ({status})"));
            }
        };
        let addr = first
            .strip_prefix("keyport listening on http://")
            .ok_or_else(|| format!("unexpected first line from keyport: {first}"))?
            .to_owned();
        // Drain the rest of the banner so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(Keyport {
            child,
            url: format!("http://{addr}"),
        })
    }

    /// SIGKILL: no shutdown code runs, buffers in the process are lost.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for the exit (graceful: drains and flushes); SIGKILL after 20 s.
    pub fn stop(mut self) -> Result<()> {
        // SAFETY: sending a signal to our own child, whose pid we hold until it is reaped below.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                return if status.success() {
                    Ok(())
                } else {
                    Err(format!("keyport exited with {status} after SIGTERM"))
                };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill9();
        Err("keyport did not exit within 20 s of SIGTERM".into())
    }
}

impl Drop for Keyport {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Makes this process the parent of the orphans among its descendants (Linux `PR_SET_CHILD_SUBREAPER`), so that
/// the postmaster, which `pg_ctl` leaves behind, is reaped by us at once when killed instead of whenever the
/// machine's init gets to it (until then its lock file blocks the restart).
pub fn become_subreaper() {
    #[cfg(target_os = "linux")]
    // SAFETY: a process attribute; no memory is passed.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
}

/// A private PostgreSQL cluster in a temporary directory, on its own port, run as the `postgres` OS user when
/// this program runs as root (initdb refuses root).
pub struct PgCluster {
    bin: PathBuf,
    dir: PathBuf,
    pub port: u16,
    as_postgres: bool,
}

impl PgCluster {
    /// The newest `/usr/lib/postgresql/*/bin` that has `initdb`, or `pg_config --bindir`.
    fn find_bin() -> Option<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin"))
            .filter(|b| b.join("initdb").exists())
            .collect();
        found.sort_by_key(|p| {
            p.parent()
                .and_then(|v| v.file_name())
                .and_then(|v| v.to_str())
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0)
        });
        found.pop().or_else(|| {
            let out = Command::new("pg_config").arg("--bindir").output().ok()?;
            let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            dir.join("initdb").exists().then_some(dir)
        })
    }

    /// `initdb` + start. Fails (with the reason) when the cluster cannot be made here.
    pub fn create() -> Result<PgCluster> {
        let bin = Self::find_bin().ok_or("no initdb found (PostgreSQL server binaries)")?;
        let as_postgres = unsafe { libc::geteuid() } == 0;
        let dir = std::env::temp_dir().join(format!("keyport-crash-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let cluster = PgCluster {
            bin,
            dir,
            port: free_port()?,
            as_postgres,
        };
        if as_postgres {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&cluster.dir)
                .status()
                .map_err(|e| e.to_string())?
                .success();
            if !ok {
                return Err("cannot chown the cluster directory to the postgres user".into());
            }
        }
        let data = cluster.data_dir();
        let data = data.to_str().ok_or("non-UTF-8 temp dir")?;
        cluster.run(
            "initdb",
            &["-D", data, "-A", "trust", "-U", "postgres", "--no-sync"],
        )?;
        cluster.start()?;
        Ok(cluster)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// `postgres://postgres@127.0.0.1:PORT/NAME`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<()> {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {tool}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{tool} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// `pg_ctl start -w` (crash recovery included, when the last stop was a kill). A start that fails is
    /// reported (with the end of the cluster's log) and tried once more after two seconds: one start in about
    /// eighty after a kill failed so, and the directory with its log goes with the cluster.
    pub fn start(&self) -> Result<()> {
        self.start_once().or_else(|e| {
            eprintln!("keyport-crash: PostgreSQL did not start; trying again in 2 s: {e}");
            std::thread::sleep(Duration::from_secs(2));
            self.start_once()
        })
    }

    fn start_once(&self) -> Result<()> {
        let data = self.data_dir();
        let log = self.dir.join("postgres.log");
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c max_connections=200",
            self.port,
            self.dir.display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap_or_default(),
                "-l",
                log.to_str().unwrap_or_default(),
                "-o",
                &options,
                "-t",
                "120",
                "-w",
                "start",
            ],
        )
        .map_err(|e| {
            // The cluster's directory goes with it: the reason is in its log, so it goes into the error.
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(15)..].join("\n");
            format!("{e}\npostgres.log ends with:\n{tail}")
        })
    }

    /// `createdb NAME` on the cluster.
    pub fn create_database(&self, name: &str) -> Result<()> {
        let port = self.port.to_string();
        let args = ["-h", "127.0.0.1", "-p", &port, "-U", "postgres", name];
        self.run("createdb", &args)
    }

    /// `dropdb --force NAME`.
    pub fn drop_database(&self, name: &str) -> Result<()> {
        let port = self.port.to_string();
        let args = [
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-U",
            "postgres",
            "--force",
            "--if-exists",
            name,
        ];
        self.run("dropdb", &args)
    }

    /// The postmaster's pid, from `postmaster.pid`.
    fn postmaster_pid(&self) -> Option<i32> {
        let text = std::fs::read_to_string(self.data_dir().join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// SIGKILL to the postmaster's whole process group (pg_ctl makes it a session leader): the postmaster, its
    /// backends, checkpointer and WAL writer die at once, as in a crash of the database machine's processes
    /// (the OS page cache survives, as it does in every kill).
    pub fn kill9(&self) -> Result<()> {
        let pid = self
            .postmaster_pid()
            .ok_or("no postmaster.pid: is the cluster running?")?;
        // SAFETY: signalling the process group of the postmaster this cluster started.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
        // Wait until the group is gone (a zombie postmaster would keep its lock file "in use"). pg_ctl exited
        // long ago, so the group's processes are orphans: this process, a child subreaper (`become_subreaper`),
        // is their parent now and reaps them here.
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            // SAFETY: reaping (without blocking) children of the postmaster's process group only.
            while unsafe { libc::waitpid(-pid, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
            // SAFETY: signal 0 only checks existence.
            if unsafe { libc::kill(-pid, 0) } != 0 {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(format!(
            "postmaster group {pid} still alive 10 s after SIGKILL"
        ))
    }

    fn stop(&self) {
        let data = self.data_dir();
        let _ = self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap_or_default(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
