use super::*;

fn project() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("project");
    std::fs::create_dir_all(root.join("audiences")).unwrap();
    std::fs::create_dir_all(root.join("campaigns")).unwrap();
    std::fs::write(root.join("audiences/a.csv"), "phone\n+919019486731\n").unwrap();
    (dir, root)
}

#[test]
fn a_file_inside_the_project_opens() {
    let (_dir, root) = project();
    let c = Confinement::project(&root);
    let mut opened = c.open(&root.join("campaigns/../audiences/a.csv")).unwrap();
    let mut text = String::new();
    opened.reader.read_to_string(&mut text).unwrap();
    assert_eq!(text, "phone\n+919019486731\n");
}

#[cfg(unix)]
#[test]
fn links_and_paths_out_of_the_project_are_refused() {
    let (dir, root) = project();
    std::fs::write(dir.path().join("secret.csv"), "phone\n").unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret.csv"), root.join("link.csv")).unwrap();
    let c = Confinement::project(&root);
    for path in [
        root.join("link.csv"),
        root.join("../secret.csv"),
        PathBuf::from("/proc/self/environ"),
        PathBuf::from("/etc/passwd"),
    ] {
        assert!(
            matches!(c.open(&path), Err(Refusal::Outside { .. })),
            "{}",
            path.display()
        );
    }
}

#[cfg(unix)]
#[test]
fn allowed_directories_widen_the_reach_but_never_to_system_files() {
    let (dir, root) = project();
    std::fs::create_dir(dir.path().join("shared")).unwrap();
    std::fs::write(dir.path().join("shared/b.csv"), "phone\n").unwrap();
    let allow = [
        "../shared".to_owned(),
        "/".to_owned(),
        "../../../../proc".to_owned(),
    ];
    let (c, problems) = Confinement::new(&root, &allow, 100);
    assert!(c.open(&root.join("../shared/b.csv")).is_ok());
    let refused: Vec<usize> = problems.iter().map(|p| p.index).collect();
    assert_eq!(refused, [1, 2]);
    assert!(
        problems[0].message.contains("system directory"),
        "{problems:?}"
    );
}

#[cfg(unix)]
#[test]
fn devices_fifos_private_dirs_and_large_files_are_refused() {
    let (_dir, root) = project();
    let fifo = root.join("audiences/fifo.csv");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    std::os::unix::fs::symlink("/dev/zero", root.join("zero.csv")).unwrap();
    std::fs::create_dir(root.join(".git")).unwrap();
    std::fs::write(root.join(".git/config"), "[core]\n").unwrap();
    let (c, _) = Confinement::new(&root, &[], 10);
    if made {
        assert!(matches!(
            c.open(&fifo),
            Err(Refusal::NotRegular { kind: "a FIFO" })
        ));
    }
    assert!(matches!(
        c.open(&root.join("zero.csv")),
        Err(Refusal::Outside { .. })
    ));
    assert!(matches!(
        c.open(&root.join(".git/config")),
        Err(Refusal::Private { dir: ".git" })
    ));
    assert!(matches!(
        c.open(&root.join("audiences/a.csv")),
        Err(Refusal::TooLarge {
            size: 20,
            limit: 10
        })
    ));
    assert!(matches!(
        c.open(&root.join("audiences")),
        Err(Refusal::NotRegular {
            kind: "a directory"
        })
    ));
}

#[test]
fn capped_reads_fail_past_the_cap() {
    let mut capped = Capped {
        inner: &b"0123456789"[..],
        left: 4,
        limit: 4,
    };
    let mut out = Vec::new();
    let e = capped.read_to_end(&mut out).unwrap_err();
    assert_eq!(out, b"0123");
    assert!(e.to_string().contains("grew past 4 bytes"), "{e}");
    let mut exact = Capped {
        inner: &b"0123"[..],
        left: 4,
        limit: 4,
    };
    let mut out = Vec::new();
    assert_eq!(exact.read_to_end(&mut out).unwrap(), 4);
}

#[test]
fn sizes_read_as_people_write_them() {
    assert_eq!(human_bytes(12), "12 bytes");
    assert_eq!(human_bytes(4 << 30), "4 GiB");
    assert_eq!(human_bytes(5_583_457_484), "5.2 GiB");
}
