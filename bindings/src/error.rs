//! The one error the apps see, a variant per stable code, and the error of the app-supplied
//! secure storage. Messages come from the core's `Display`, which carries ids and codes only,
//! never names, tokens or notice bodies.

use lianxiao_core::Error;

/// A failed call. Branch on the variant (Kotlin `is LianxiaoException.Offline`, Swift
/// `case .Offline`); `detail` is for logs (a field named `message` would clash with
/// Kotlin's `Throwable.message`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum LianxiaoError {
    /// No connection to the server. Work done offline is queued, not lost.
    #[error("{detail}")]
    Offline { detail: String },
    /// The session ended (signed out elsewhere, or never signed in): sign in again.
    #[error("{detail}")]
    Unauthorized { detail: String },
    #[error("{detail}")]
    Forbidden { detail: String },
    #[error("{detail}")]
    NotFound { detail: String },
    /// `field` names the wrong field when known.
    #[error("{detail}")]
    Validation {
        field: Option<String>,
        detail: String,
    },
    #[error("{detail}")]
    Conflict { detail: String },
    /// A teacher muted this person in the lesson's chat, for `retry_after_secs` more when
    /// known.
    #[error("{detail}")]
    Muted {
        retry_after_secs: Option<u64>,
        detail: String,
    },
    /// The lesson is not open: cancelled, over, or not yet in its window.
    #[error("{detail}")]
    LessonNotLive { detail: String },
    /// The class (`class_id`) has had its school's daily number of non-urgent notices to
    /// parents; nothing was posted. Ask the allowance before posting.
    #[error("{detail}")]
    DailyNoticeCap {
        class_id: Option<String>,
        detail: String,
    },
    /// Try again after `retry_after_secs` when given.
    #[error("{detail}")]
    RateLimited {
        retry_after_secs: Option<u64>,
        detail: String,
    },
    /// The server failed; safe to retry later.
    #[error("{detail}")]
    Server { detail: String },
    /// The phone's local database (or secure storage) failed.
    #[error("{detail}")]
    Storage { detail: String },
    #[error("{detail}")]
    Internal { detail: String },
}

impl From<Error> for LianxiaoError {
    fn from(e: Error) -> Self {
        let detail = e.to_string();
        match e {
            Error::Offline(_) => LianxiaoError::Offline { detail },
            Error::Unauthorized => LianxiaoError::Unauthorized { detail },
            Error::Forbidden(_) => LianxiaoError::Forbidden { detail },
            Error::NotFound(_) => LianxiaoError::NotFound { detail },
            Error::Validation { field, .. } => LianxiaoError::Validation { field, detail },
            Error::Conflict(_) => LianxiaoError::Conflict { detail },
            Error::RateLimited {
                retry_after_secs, ..
            } => LianxiaoError::RateLimited {
                retry_after_secs,
                detail,
            },
            Error::Muted {
                retry_after_secs, ..
            } => LianxiaoError::Muted {
                retry_after_secs,
                detail,
            },
            Error::LessonNotLive(_) => LianxiaoError::LessonNotLive { detail },
            Error::DailyNoticeCap { class_id, .. } => {
                LianxiaoError::DailyNoticeCap { class_id, detail }
            }
            Error::Server { .. } => LianxiaoError::Server { detail },
            Error::Storage(_) => LianxiaoError::Storage { detail },
            Error::Internal(_) => LianxiaoError::Internal { detail },
        }
    }
}

/// What the app's secure storage reports when the Keychain / Keystore fails. `reason` must
/// not contain keys or values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum SecureStorageError {
    #[error("{reason}")]
    Failed { reason: String },
}

/// An exception the app's storage threw without declaring it: a failure, not a crash.
impl From<uniffi::UnexpectedUniFFICallbackError> for SecureStorageError {
    fn from(_: uniffi::UnexpectedUniFFICallbackError) -> Self {
        // The foreign exception's text is dropped: it may quote a key or a value.
        SecureStorageError::Failed {
            reason: "the app's secure storage threw an unexpected exception".into(),
        }
    }
}

impl From<SecureStorageError> for lianxiao_core::SecureStorageError {
    fn from(e: SecureStorageError) -> Self {
        let SecureStorageError::Failed { reason } = e;
        lianxiao_core::SecureStorageError::new(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_core_error_keeps_its_code_and_message() {
        let e = LianxiaoError::from(Error::Validation {
            field: Some("title".into()),
            message: "title must be 1 to 200 characters".into(),
        });
        assert_eq!(
            e,
            LianxiaoError::Validation {
                field: Some("title".into()),
                detail: "invalid request: title must be 1 to 200 characters".into()
            }
        );
        let e = LianxiaoError::from(Error::RateLimited {
            retry_after_secs: Some(7),
            message: "slow down".into(),
        });
        assert!(matches!(
            e,
            LianxiaoError::RateLimited {
                retry_after_secs: Some(7),
                ..
            }
        ));
        assert!(matches!(
            LianxiaoError::from(Error::Unauthorized),
            LianxiaoError::Unauthorized { .. }
        ));
    }

    #[test]
    fn an_unexpected_storage_exception_is_an_error_without_its_text() {
        let e = SecureStorageError::from(uniffi::UnexpectedUniFFICallbackError::new(
            "KeyStoreException: token=secret",
        ));
        assert!(!e.to_string().contains("secret"));
    }
}
