//! Behaviour of the MES, QMS and WMS simulators and of the seeded plant activity.

mod activity;
mod helpers;
mod mes;
mod persist;
mod qms;
mod spec;
mod wms;
