namespace QuantPS.Gguf;

/// <summary>How much a finding of Test-Gguf matters.</summary>
public enum GgufSeverity
{
    /// <summary>Worth knowing; nothing wrong.</summary>
    Information = 0,

    /// <summary>Loads, but is suspicious or wasteful (huge strings, odd alignment, risky chat template).</summary>
    Warning = 1,

    /// <summary>QuantPS reads it, but llama.cpp would refuse the file.</summary>
    Incompatible = 2,

    /// <summary>Malformed: QuantPS (and llama.cpp) refuse the file.</summary>
    Error = 3,
}

/// <summary>One thing a check found in a GGUF file.</summary>
public sealed record GgufFinding(string Check, GgufSeverity Severity, string? Subject, string Message, long? Offset = null)
{
    public override string ToString() => $"{Severity} {Check}{(Subject is null ? "" : " [" + Subject + "]")}: {Message}";
}
