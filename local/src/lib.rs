//! The local side of lakeline: a whole deployment on the AWS emulator ([`stack`]), the Lambda
//! service the emulator's state machines call ([`router`], [`functions`]), and who makes each
//! AWS call ([`identity`], recorded by the router as [`calls`]). The `lakeline-local`
//! binary, `make demo` and the end-to-end tests use them.

pub mod calls;
pub mod functions;
pub mod identity;
pub mod router;
pub mod stack;
