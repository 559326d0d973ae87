pub mod build_context;
pub mod build_options;
pub mod buildable;
