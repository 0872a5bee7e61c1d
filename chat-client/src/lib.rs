//! The client side of the chat room, with no terminal code.

pub mod net;
pub mod pace;
pub mod sanitize;
pub mod transfer;
