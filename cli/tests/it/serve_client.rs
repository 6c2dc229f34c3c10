use crate::support::{Server, faultline, run, stderr};

#[test]
fn client_reproduces_the_tutorial_run_against_serve() {
    let server = Server::start("all");
    let out = run(faultline().args([
        "client",
        "route-guide",
        "--no-pause",
        "--seed",
        "0x2a",
        "--addr",
        &server.addr,
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    for expected in [
        "-------------- GetFeature --------------\nFeature called Berkshire Valley Management Area Trail, Jefferson, NJ, USA at latitude: 409146138\nlongitude: -746188906\n\nFound no feature at \n",
        "Looking for features between 40, -75 and 42, -73\n",
        "Finished trip with 10 points \nPassed 10 features \n",
        "Received message First message at \n",
        "Received message Third message at latitude: 1\n\n",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in:\n{stdout}");
    }
    assert_eq!(stdout.matches("Feature called ").count(), 101, "1 GetFeature hit + 100 listed");
    assert_eq!(stdout.matches("Visiting point ").count(), 10);

    let out = run(faultline().args(["client", "greeter", "--addr", &server.addr]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "Greeter client received: Hello, you!\nGreeter client received: Hello again, you!\n"
    );
}

#[test]
fn bad_input_is_one_line_and_exit_code_2() {
    let busy = Server::start("greeter");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["serve", "greeter", "--addr", &busy.addr], "cannot listen on"),
        (vec!["serve", "greeter", "--addr", "not-an-address"], "invalid value"),
        (vec!["client", "greeter", "--addr", "bad addr"], "is not a host:port address"),
        (vec!["client", "greeter", "--addr", "localhost"], "has no port"),
        // Port 1 on loopback: nothing listens there, so the connect is refused at once.
        (vec!["client", "greeter", "--addr", "127.0.0.1:1"], "cannot reach a server at 127.0.0.1:1"),
        (vec!["client", "route-guide", "--seed", "x", "--addr", &busy.addr], "is not a seed"),
        (vec!["client", "greeter", "--connect-timeout=-1", "--addr", &busy.addr], "non-negative"),
        (vec!["serve", "no-such-service"], "invalid value"),
        (vec!["serve", "all", "--max-connections", "0"], "invalid value '0' for '--max-connections"),
        (
            vec!["serve", "all", "--max-concurrent-streams", "0"],
            "invalid value '0' for '--max-concurrent-streams",
        ),
        (vec!["serve", "all", "--max-message-size", "-1"], "unexpected argument '-1'"),
        (vec!["serve", "all", "--handshake-timeout=0"], "`0` is not a positive number of seconds"),
        (vec!["serve", "all", "--keepalive-interval=soon"], "`soon` is not a positive number of seconds"),
        (vec!["serve", "all", "--shutdown-grace=-1"], "`-1` is not a positive number of seconds"),
    ];
    for (args, message) in cases {
        let out = run(faultline().args(&args));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(message), "{args:?}: expected {message:?} in {err:?}");
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: not one line: {err}");
    }
}

#[test]
fn a_failing_call_exits_1() {
    // The greeter-only server has no RouteGuide: every call is UNIMPLEMENTED.
    let server = Server::start("greeter");
    let out = run(faultline().args(["client", "route-guide", "--no-pause", "--addr", &server.addr]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("Unimplemented"), "{}", stderr(&out));
}

#[cfg(unix)]
#[test]
fn sigterm_shuts_the_server_down_cleanly() {
    let mut server = Server::start("all");
    let pid = server.child.id().to_string();
    let status = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let status = server.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}
