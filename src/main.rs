fn main() -> std::process::ExitCode {
    hicra_cli::main()
}
