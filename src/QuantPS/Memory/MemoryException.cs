namespace QuantPS.Memory;

/// <summary>Stable ids for memory-estimate failures; cmdlets use them as ErrorRecord ids.</summary>
public static class MemoryErrorIds
{
    public const string UnknownPreset = "MemoryUnknownPreset";
    public const string InvalidParameterCount = "MemoryInvalidParameterCount";
    public const string InvalidShape = "MemoryInvalidShape";
    public const string KvTypeNotSupported = "MemoryKvTypeNotSupported";
    public const string KvTypeIncompatible = "MemoryKvTypeIncompatible";
    public const string KvTypeNeedsFlashAttention = "MemoryKvTypeNeedsFlashAttention";
    public const string InvalidSetting = "MemoryInvalidSetting";
    public const string UnknownQuantizationType = "MemoryUnknownQuantizationType";
    public const string NotATextModel = "MemoryNotATextModel";
}

/// <summary>A memory estimate that cannot be made; <see cref="ErrorId"/> is one of <see cref="MemoryErrorIds"/>.</summary>
public sealed class MemoryEstimateException : Exception
{
    public MemoryEstimateException(string errorId, string message, Exception? inner = null)
        : base(message, inner)
    {
        ErrorId = errorId;
    }

    public string ErrorId { get; }
}
