//! How errors look: miette's graphical reports, without colour when stderr is not a terminal
//! or `NO_COLOR` is set, at a fixed width so that output is stable in tests and logs.

use std::io::IsTerminal;

pub fn install_hook() {
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = miette::set_hook(Box::new(move |_| {
        Box::new(
            miette::MietteHandlerOpts::new()
                .terminal_links(false)
                .color(color)
                .unicode(color)
                .width(100)
                .build(),
        )
    }));
}
