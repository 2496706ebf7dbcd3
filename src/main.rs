fn main() -> std::process::ExitCode {
    tilelab::cli::main()
}
