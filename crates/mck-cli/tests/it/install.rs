//! `install.sh`, the one-line installer, against a local "release" (`MCK_DOWNLOAD=file://…`)
//! holding this build of `mck` packed as the release workflow packs it: it installs a working
//! binary, and refuses one whose checksum does not match, installing nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The asset name install.sh asks for on this machine.
fn asset() -> String {
    let arch = match std::env::consts::ARCH {
        "aarch64" => "aarch64",
        _ => "x86_64",
    };
    let os = match std::env::consts::OS {
        "macos" => "apple-darwin",
        _ => "unknown-linux-musl",
    };
    format!("mck-{arch}-{os}.tar.gz")
}

/// A release directory with this build's `mck` as `asset()` and its `.sha256`.
fn release(dir: &Path) -> PathBuf {
    let release = dir.join("release");
    std::fs::create_dir_all(&release).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_mck"), dir.join("mck")).unwrap();
    let status = Command::new("tar")
        .args(["-czf"])
        .arg(release.join(asset()))
        .args(["-C"])
        .arg(dir)
        .arg("mck")
        .status()
        .unwrap();
    assert!(status.success());
    let sum = Command::new("sha256sum")
        .arg(asset())
        .current_dir(&release)
        .output()
        .unwrap();
    assert!(sum.status.success());
    std::fs::write(release.join(format!("{}.sha256", asset())), &sum.stdout).unwrap();
    release
}

fn install(release: &Path, into: &Path) -> Output {
    Command::new("sh")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../install.sh"))
        .env("MCK_DOWNLOAD", format!("file://{}", release.display()))
        .env("MCK_INSTALL_DIR", into)
        .output()
        .unwrap()
}

#[test]
fn the_installer_installs_a_checked_binary_and_refuses_a_mismatch() {
    if Command::new("curl").arg("--version").output().is_err() {
        panic!("install.sh needs curl, which this machine lacks");
    }
    let dir = std::env::temp_dir().join(format!("mck-it-install-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let release = release(&dir);

    let bin = dir.join("bin");
    let out = install(&release, &bin);
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("(commit "), "{said}");
    let version = Command::new(bin.join("mck"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("mck "));

    // A tampered checksum: refused, nothing installed.
    std::fs::write(
        release.join(format!("{}.sha256", asset())),
        format!("{}  {}\n", "0".repeat(64), asset()),
    )
    .unwrap();
    let elsewhere = dir.join("other-bin");
    let out = install(&release, &elsewhere);
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("checksum mismatch"), "{said}");
    assert!(!elsewhere.join("mck").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
