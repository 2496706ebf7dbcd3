//! TODO-owner: see prompt
