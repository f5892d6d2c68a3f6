//! The variables flow gives every command's attempt (`driver/effects.rs` sets them over the
//! spec's environment), and the rule that refuses a flow whose spec changes one of them.

use flow_pool::EnvChange;

use crate::{CoreError, Flow};

/// What the driver sets for every attempt of a command flow, whatever its spec says.
pub const OWN_VARIABLES: [&str; 3] = ["FLOW_ID", "FLOW_RUN_ID", "FLOW_ATTEMPT"];

/// Refuses a command flow whose spec sets or removes one of [`OWN_VARIABLES`]: the change
/// would never reach the command.
pub(crate) fn check(flow: &Flow) -> Result<(), CoreError> {
    let Some(spec) = flow.command_spec() else {
        return Ok(());
    };
    for change in &spec.env.changes {
        let (EnvChange::Set(name, _) | EnvChange::SetOs(name, _) | EnvChange::Remove(name)) =
            change;
        if let Some(own) = OWN_VARIABLES.iter().find(|own| **own == name.as_str()) {
            return Err(CoreError::OwnVariable {
                flow: flow.id.clone(),
                variable: own,
            });
        }
    }
    Ok(())
}
