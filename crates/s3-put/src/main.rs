fn main() {
    eprintln!("not yet available");
    std::process::exit(2);
}
