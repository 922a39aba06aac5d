//! The visitor side of a Flex Conversations webchat: what flexroute hands a visitor's browser
//! so that it can talk to Twilio directly, and the chat it starts for them.

pub mod backend;
pub mod token;
