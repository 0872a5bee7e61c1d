fn main() -> std::process::ExitCode {
    chat_cli::main()
}
