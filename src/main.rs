fn main() {
    std::process::exit(ecsched::run(std::env::args_os()));
}
