namespace QuantPS.Quantization;

/// <summary>Stable ids for quantization failures; cmdlets use them as ErrorRecord ids.</summary>
public static class QuantizationErrorIds
{
    public const string ImportanceRequired = "QuantizationImportanceRequired";
    public const string TypeNotSupported = "QuantizationTypeNotSupported";
    public const string GridSearchFailed = "QuantizationGridSearchFailed";
    public const string ImatrixUnreadable = "ImatrixUnreadable";
    public const string ImatrixMalformed = "ImatrixMalformed";
    public const string ImatrixSizeMismatch = "ImatrixSizeMismatch";
    public const string ImatrixCountsMissing = "ImatrixCountsMissing";
    public const string ImatrixNoData = "ImatrixNoData";
    public const string ImatrixMetadataMissing = "ImatrixMetadataMissing";
    public const string ImatrixNonFinite = "ImatrixNonFinite";
}

/// <summary>A quantization or importance-matrix failure with a stable <see cref="ErrorId"/>.</summary>
public sealed class QuantizationException : Exception
{
    public QuantizationException(string errorId, string message, Exception? inner = null)
        : base(message, inner)
    {
        ErrorId = errorId;
    }

    /// <summary>A stable id (see <see cref="QuantizationErrorIds"/>).</summary>
    public string ErrorId { get; }
}
