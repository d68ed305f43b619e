using System.Management.Automation;
using System.Net.Http;
using QuantPS.Gguf;

namespace QuantPS.PowerShell;

/// <summary>
/// Turns engine failures into ErrorRecords whose ErrorId is the engine's stable "Gguf" + kind,
/// so scripts match one id whichever layer noticed the problem.
/// </summary>
internal static class GgufErrors
{
    public static ErrorRecord From(GgufException exception, string target) =>
        new(exception, exception.ErrorId, CategoryOf(exception), target);

    /// <summary>A cmdlet-level problem (a folder, a wildcard matching nothing) under an engine ErrorId.</summary>
    public static ErrorRecord Create(GgufErrorKind kind, string message, string target, Exception? inner = null) =>
        From(new GgufException(kind, message, target, inner: inner), target);

    /// <summary>Failures that escaped the engine unwrapped: disk and network trouble.</summary>
    public static ErrorRecord FromUnexpected(Exception exception, string target) => exception switch
    {
        HttpRequestException http => Create(GgufErrorKind.RemoteError, $"{target}: {http.Message}", target, http),
        _ => Create(GgufErrorKind.IoError, $"{target}: {exception.Message}", target, exception),
    };

    public static ErrorCategory CategoryOf(GgufException exception) => exception.Kind switch
    {
        GgufErrorKind.FileNotFound or GgufErrorKind.SplitIncomplete => ErrorCategory.ObjectNotFound,
        GgufErrorKind.IoError => ErrorCategory.ReadError,
        GgufErrorKind.UnsupportedVersion or GgufErrorKind.UnknownTensorType => ErrorCategory.NotImplemented,
        GgufErrorKind.RemoteError => RemoteCategory(exception),
        GgufErrorKind.OutputExists => ErrorCategory.ResourceExists,
        GgufErrorKind.InvalidArgument => ErrorCategory.InvalidArgument,
        GgufErrorKind.Corrupt or GgufErrorKind.InvalidMagic or GgufErrorKind.Truncated
            or GgufErrorKind.LengthOutOfRange or GgufErrorKind.InvalidValueType or GgufErrorKind.InvalidUtf8
            or GgufErrorKind.EmptyKey or GgufErrorKind.DuplicateKey or GgufErrorKind.InvalidAlignment
            or GgufErrorKind.TensorNameTooLong or GgufErrorKind.DuplicateTensorName or GgufErrorKind.TooManyDimensions
            or GgufErrorKind.NegativeDimension or GgufErrorKind.ElementCountOverflow or GgufErrorKind.RowNotBlockMultiple
            or GgufErrorKind.TensorSizeOverflow or GgufErrorKind.TensorMisaligned or GgufErrorKind.TensorOverlap
            or GgufErrorKind.TensorGap or GgufErrorKind.TensorOutOfBounds or GgufErrorKind.SplitMismatch
            or GgufErrorKind.HeaderTooLarge => ErrorCategory.InvalidData,
        _ => ErrorCategory.NotSpecified,
    };

    /// <summary>
    /// A server that answered unusably (a status, no ranges) is unavailable; one that could not be
    /// reached or timed out is a connection error.
    /// </summary>
    private static ErrorCategory RemoteCategory(Exception exception)
    {
        if (exception is GgufException { HttpStatus: { } status })
        {
            return status is 401 or 403 ? ErrorCategory.PermissionDenied : ErrorCategory.ResourceUnavailable;
        }

        for (var e = exception.InnerException; e is not null; e = e.InnerException)
        {
            if (e is HttpRequestException { StatusCode: not null })
            {
                return ErrorCategory.ResourceUnavailable;
            }

            if (e is HttpRequestException or IOException or OperationCanceledException or System.Net.Sockets.SocketException)
            {
                return ErrorCategory.ConnectionError;
            }
        }

        return ErrorCategory.ResourceUnavailable;
    }

    /// <summary>A URL as it may appear in messages and TargetObject: without user name or password.</summary>
    public static string Describe(Uri uri) =>
        string.IsNullOrEmpty(uri.UserInfo) ? uri.AbsoluteUri : new UriBuilder(uri) { UserName = string.Empty, Password = string.Empty }.Uri.AbsoluteUri;
}
