//! The local side of lakeline: a whole deployment on the AWS emulator ([`stack`]), the Lambda
//! service the emulator's state machines call ([`router`], [`functions`]). The `lakeline-local`
//! binary, `make demo` and the end-to-end tests use them.

pub mod functions;
pub mod router;
pub mod stack;
