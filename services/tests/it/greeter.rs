use faultline_services::greeter::{hello, hello_again};

#[test]
fn greetings_follow_the_tutorial_format() {
    let cases = [
        ("you", "Hello, you!", "Hello again, you!"),
        ("", "Hello, !", "Hello again, !"),
        ("世界 🌍", "Hello, 世界 🌍!", "Hello again, 世界 🌍!"),
    ];
    for (name, first, again) in cases {
        assert_eq!(hello(name).message, first);
        assert_eq!(hello_again(name).message, again);
    }
}
