fn main() -> std::process::ExitCode {
    chat_tui::main()
}
