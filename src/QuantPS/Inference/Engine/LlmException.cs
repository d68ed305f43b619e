namespace QuantPS.Inference.Engine;

/// <summary>
/// Why a model cannot be loaded or run. Each kind is a stable ErrorId ("Llm" + kind) that scripts
/// can match on; never rename one.
/// </summary>
public enum LlmErrorKind
{
    /// <summary>general.architecture names a model family this engine has no forward pass for.</summary>
    UnsupportedArchitecture,

    /// <summary>A hyperparameter key the architecture needs is absent or has the wrong type.</summary>
    MissingMetadata,

    /// <summary>A hyperparameter is present but out of range or inconsistent with the others.</summary>
    InvalidMetadata,

    /// <summary>A weight tensor the architecture needs is absent.</summary>
    MissingTensor,

    /// <summary>A weight tensor has the wrong shape, or a type the kernels cannot multiply.</summary>
    InvalidTensor,

    /// <summary>A token id outside the vocabulary was given to the model.</summary>
    InvalidToken,

    /// <summary>The tokens do not fit in what is left of the context window.</summary>
    ContextFull,

    /// <summary>An option (context length, cache type, thread count...) is out of range.</summary>
    InvalidOption,
}

/// <summary>A model-loading or inference failure; <see cref="ErrorId"/> is stable, the message says what to do.</summary>
public sealed class LlmException : Exception
{
    public LlmException(LlmErrorKind kind, string message, string? subject = null, Exception? inner = null)
        : base(message, inner)
    {
        Kind = kind;
        Subject = subject;
    }

    public LlmErrorKind Kind { get; }

    /// <summary>The metadata key, tensor name or option concerned, where there is one.</summary>
    public string? Subject { get; }

    public string ErrorId => "Llm" + Kind;
}
