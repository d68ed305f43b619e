namespace QuantPS.Inference.Chat;

/// <summary>Why a conversation cannot be formatted. Each kind is a stable ErrorId ("ChatTemplate" + kind).</summary>
public enum ChatTemplateErrorKind
{
    /// <summary>A template name that is not one of the built-in names.</summary>
    UnknownName,

    /// <summary>The model's Jinja template matches none of the families llama.cpp recognizes.</summary>
    Unrecognized,

    /// <summary>A message without a role or content.</summary>
    InvalidMessage,
}

/// <summary>A chat template failure; <see cref="ErrorId"/> is stable, the message says what to do.</summary>
public sealed class ChatTemplateException : Exception
{
    public ChatTemplateException(ChatTemplateErrorKind kind, string message, string? subject = null)
        : base(message)
    {
        Kind = kind;
        Subject = subject;
    }

    public ChatTemplateErrorKind Kind { get; }

    /// <summary>The template name or text concerned (text cut to 200 characters).</summary>
    public string? Subject { get; }

    public string ErrorId => "ChatTemplate" + Kind;
}
