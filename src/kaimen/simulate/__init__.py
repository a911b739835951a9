"""The synthetic population: people with latent traits, and the events their lives produce."""
