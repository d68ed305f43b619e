namespace QuantPS.Gguf;

/// <summary>
/// What is wrong with a GGUF input. Each kind is a stable ErrorId ("Gguf" + kind) that
/// scripts can match on; never renumber or rename one.
/// </summary>
public enum GgufErrorKind
{
    Corrupt,
    FileNotFound,
    IoError,
    InvalidMagic,
    UnsupportedVersion,
    Truncated,
    LengthOutOfRange,
    InvalidValueType,
    InvalidUtf8,
    EmptyKey,
    DuplicateKey,
    InvalidAlignment,
    TensorNameTooLong,
    DuplicateTensorName,
    TooManyDimensions,
    NegativeDimension,
    ElementCountOverflow,
    UnknownTensorType,
    RowNotBlockMultiple,
    TensorSizeOverflow,
    TensorMisaligned,
    TensorOverlap,
    TensorGap,
    TensorOutOfBounds,
    SplitIncomplete,
    SplitMismatch,
    HeaderTooLarge,
    RemoteError,
    OutputExists,
    InvalidArgument,
}

/// <summary>A GGUF input was refused. <see cref="ErrorId"/> is stable; the message says what to do.</summary>
public sealed class GgufException : Exception
{
    public GgufException(GgufErrorKind kind, string message, string? path = null, long? offset = null, Exception? inner = null, string? subject = null)
        : base(message, inner)
    {
        Kind = kind;
        Path = path;
        Offset = offset;
        Subject = subject;
    }

    /// <summary>For remote reads the server refused: the HTTP status it answered.</summary>
    public int? HttpStatus { get; init; }

    /// <summary>The metadata key or tensor name concerned, where there is one.</summary>
    public string? Subject { get; }

    public GgufErrorKind Kind { get; }

    /// <summary>The file or URL concerned, where known.</summary>
    public string? Path { get; }

    /// <summary>The byte offset where the problem was found, where it has one.</summary>
    public long? Offset { get; }

    public string ErrorId => "Gguf" + Kind;

    internal GgufException WithPath(string path) =>
        Path is not null ? this : new GgufException(Kind, $"{path}: {Message}", path, Offset, InnerException, Subject) { HttpStatus = HttpStatus };
}
