namespace QuantPS.Inference.Tokenizers;

/// <summary>
/// What stops a vocabulary from loading or a text from (de)tokenizing. Each kind is a stable
/// ErrorId ("Tokenizer" + kind); never rename one.
/// </summary>
public enum TokenizerErrorKind
{
    /// <summary>The model has no tokenizer.ggml.tokens (or no tokenizer.ggml.model).</summary>
    MissingVocabulary,

    /// <summary>tokenizer.ggml.model names an algorithm this version does not implement.</summary>
    UnsupportedModel,

    /// <summary>tokenizer.ggml.pre names a pre-tokenizer llama.cpp does not know.</summary>
    UnknownPreTokenizer,

    /// <summary>A tokenizer key has the wrong type or size (scores shorter than tokens, merges not strings...).</summary>
    InvalidVocabulary,

    /// <summary>A token id outside the vocabulary.</summary>
    InvalidTokenId,

    /// <summary>The vocabulary lacks a token the operation needs (a BOS to add, a byte to fall back on).</summary>
    MissingSpecialToken,
}

/// <summary>A tokenizer failure; <see cref="ErrorId"/> is stable, the message says what to do.</summary>
public sealed class TokenizerException : Exception
{
    public TokenizerException(TokenizerErrorKind kind, string message, string? subject = null, Exception? inner = null)
        : base(message, inner)
    {
        Kind = kind;
        Subject = subject;
    }

    public TokenizerErrorKind Kind { get; }

    /// <summary>The metadata key, name or id concerned, where there is one.</summary>
    public string? Subject { get; }

    public string ErrorId => "Tokenizer" + Kind;
}
