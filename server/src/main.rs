fn main() {
    eprintln!("engage-server: not built yet");
    std::process::exit(1);
}
