//! Exit codes (DESIGN §3), in one place: every way a run ends maps to one of these.

/// How purge exits. Ordered by severity, so the worst of several vendors is the `max`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExitCode {
    /// Every identifier ended `deleted`, `queued`, `not_found` or `skipped`.
    #[default]
    Ok,
    /// Some ended `failed` or `invalid` (or the report could not be written).
    SomeFailed,
    /// A usage, configuration or input error: nothing was sent.
    Usage,
    /// A wait would pass `--max-wait`: resume later.
    MaxWait,
    /// The run stopped on a fatal answer (401/403, a redirect, a rejected request shape).
    Fatal,
    /// Interrupted (Ctrl-C).
    Interrupted,
    /// Terminated (SIGTERM, as `timeout` and CI runners send).
    Terminated,
}

impl ExitCode {
    /// The process exit status.
    pub fn code(self) -> u8 {
        match self {
            ExitCode::Ok => 0,
            ExitCode::SomeFailed => 1,
            ExitCode::Usage => 2,
            ExitCode::Fatal => 3,
            ExitCode::MaxWait => 75,
            ExitCode::Interrupted => 130,
            ExitCode::Terminated => 143,
        }
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(c: ExitCode) -> Self {
        std::process::ExitCode::from(c.code())
    }
}

impl serde::Serialize for ExitCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::ExitCode;

    #[test]
    fn codes_and_severity() {
        let all = [
            ExitCode::Ok,
            ExitCode::SomeFailed,
            ExitCode::Usage,
            ExitCode::MaxWait,
            ExitCode::Fatal,
            ExitCode::Interrupted,
        ];
        let codes: Vec<u8> = all.iter().map(|c| c.code()).collect();
        assert_eq!(codes, [0, 1, 2, 75, 3, 130]);
        // The worst of several vendors: 3 > 75 > 1 > 0.
        assert_eq!(
            [ExitCode::SomeFailed, ExitCode::Fatal, ExitCode::MaxWait]
                .into_iter()
                .max(),
            Some(ExitCode::Fatal)
        );
        assert_eq!(
            ExitCode::MaxWait.max(ExitCode::SomeFailed),
            ExitCode::MaxWait
        );
    }
}
