using System.Management.Automation;
using QuantPS.Inference.Chat;
using QuantPS.Inference.Engine;
using QuantPS.Inference.Generation;

namespace QuantPS.PowerShell;

/// <summary>Inference and chat-template failures as ErrorRecords under the engine's stable ErrorIds.</summary>
internal static class LlmErrors
{
    public const string ModelClosed = "LlmModelClosed";
    public const string InvalidModelArgument = "LlmInvalidModelArgument";

    public static ErrorRecord From(LlmException e, object? target) => new(e, e.ErrorId, e.Kind switch
    {
        LlmErrorKind.UnsupportedArchitecture => ErrorCategory.NotImplemented,
        LlmErrorKind.MissingMetadata or LlmErrorKind.InvalidMetadata or LlmErrorKind.MissingTensor or LlmErrorKind.InvalidTensor => ErrorCategory.InvalidData,
        LlmErrorKind.InvalidToken or LlmErrorKind.InvalidOption => ErrorCategory.InvalidArgument,
        LlmErrorKind.ContextFull => ErrorCategory.LimitsExceeded,
        _ => ErrorCategory.NotSpecified,
    }, target);

    public static ErrorRecord From(ChatTemplateException e, object? target) =>
        new(e, e.ErrorId, e.Kind == ChatTemplateErrorKind.Unrecognized ? ErrorCategory.InvalidData : ErrorCategory.InvalidArgument, target);

    public static ErrorRecord Closed(LlmModelHandle handle) =>
        new(new ObjectDisposedException(nameof(LlmModelHandle), $"{handle} was closed by Close-LlmModel; open it again with Open-LlmModel."),
            ModelClosed, ErrorCategory.InvalidOperation, handle);
}
