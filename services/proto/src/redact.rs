//! `Debug` for messages that carry personal data: the type name only.
//!
//! build.rs tells prost not to derive `Debug` for the packages with personal
//! data; every type of those packages is listed here, so a new message that
//! is not listed fails to compile instead of printing a BSN into a log.

macro_rules! redacted_debug {
    ($($ty:path),+ $(,)?) => {
        $(
            impl std::fmt::Debug for $ty {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    let name = std::any::type_name::<Self>();
                    let short = name.rsplit("::").next().unwrap_or(name);
                    write!(f, "{short} {{ <redacted> }}")
                }
            }
        )+
    };
}

use crate::{processor::v1 as processor, reintegration::v1 as reintegration, wens::v1 as wens};

redacted_debug!(
    wens::HireEvent,
    wens::Address,
    wens::Education,
    wens::Qualification,
    wens::WorkExperience,
    wens::Reference,
    wens::Document,
    wens::PsychologicalTestResult,
    wens::AssessmentResult,
    wens::MedicalExamination,
    wens::LabourMarketPosition,
    wens::Account,
    wens::Device,
    wens::Candidate,
    wens::Appointment,
    wens::Gender,
    wens::ContractType,
    wens::SubmitHireEventRequest,
    wens::SubmitHireEventResponse,
    reintegration::CaseUpdate,
    reintegration::Address,
    reintegration::Employee,
    reintegration::Availability,
    reintegration::Employment,
    reintegration::Absence,
    reintegration::Evaluation,
    reintegration::Poortwachter,
    reintegration::Benefits,
    reintegration::Capability,
    reintegration::Medical,
    reintegration::CaseStatus,
    reintegration::Gender,
    reintegration::SurveyResponse,
    reintegration::Statement,
    reintegration::ExperienceBand,
    reintegration::SubmitCaseUpdateRequest,
    reintegration::SubmitCaseUpdateResponse,
    reintegration::SubmitSurveyResponseRequest,
    reintegration::SubmitSurveyResponseResponse,
    processor::ProcessorReport,
    processor::Placement,
    processor::ReportType,
    processor::SubscribeRequest,
    processor::SubscribeResponse,
    processor::subscribe_response::Body,
    processor::RawMessage,
    processor::AckRequest,
    processor::AckResponse,
    processor::SubmitReportRequest,
    processor::SubmitReportResponse,
);
