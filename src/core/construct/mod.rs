//! The proof's networks: N1 (Theorem 1) and N2 (Theorem 2), built as sparse layer stacks.
