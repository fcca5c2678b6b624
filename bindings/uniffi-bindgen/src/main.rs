//! `uniffi-bindgen` from the workspace's pinned uniffi, so generated code always matches the
//! scaffolding compiled into `lianxiao-ffi`. Built on its own (`cargo build -p uniffi-bindgen`):
//! built together with the library, cargo would link the generator into the library too.

fn main() {
    uniffi::uniffi_bindgen_main()
}
