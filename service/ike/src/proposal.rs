//! Proposal strings in strongSwan's syntax, shared by IKEv1 and IKEv2.
