namespace QuantPS.Inference.Tokenizers;

/// <summary>What a token is, as llama.cpp records it per token (llama_token_attr).</summary>
[Flags]
public enum TokenAttributes
{
    Undefined = 0,
    Unknown = 1 << 0,
    Unused = 1 << 1,
    Normal = 1 << 2,
    Control = 1 << 3,
    UserDefined = 1 << 4,
    Byte = 1 << 5,
    Normalized = 1 << 6,
    /// <summary>Whitespace before the token is swallowed when it is found in text.</summary>
    LStrip = 1 << 7,
    /// <summary>Whitespace after the token is swallowed when it is found in text.</summary>
    RStrip = 1 << 8,
    SingleWord = 1 << 9,
}

/// <summary>The algorithm a vocabulary needs, from tokenizer.ggml.model.</summary>
public enum TokenizerKind
{
    /// <summary>"llama": SentencePiece-style byte-fallback merges by score (llama, mistral, phi-3, baichuan).</summary>
    SentencePiece,

    /// <summary>"gpt2": byte-level BPE by merge rank after a regex pre-tokenizer (tokenizer.ggml.pre).</summary>
    BytePairEncoding,

    /// <summary>"bert": greedy longest-match WordPiece after BERT normalization.</summary>
    WordPiece,

    /// <summary>"t5": Unigram (SentencePiece Viterbi) with the precompiled character map.</summary>
    Unigram,

    /// <summary>"rwkv": greedy longest match over byte tokens.</summary>
    Rwkv,
}

internal static class TokenTypes
{
    /// <summary>GGUF tokenizer.ggml.token_type values → attributes.</summary>
    public static TokenAttributes ToAttributes(int tokenType) => tokenType switch
    {
        1 => TokenAttributes.Normal,
        2 => TokenAttributes.Unknown,
        3 => TokenAttributes.Control,
        4 => TokenAttributes.UserDefined,
        5 => TokenAttributes.Unused,
        6 => TokenAttributes.Byte,
        _ => TokenAttributes.Undefined,
    };
}
