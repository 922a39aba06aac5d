//! The visitor side of a Flex Conversations webchat: what flexroute hands a visitor's browser
//! so that it can talk to Twilio directly.

pub mod token;
