using System.Globalization;
using System.Management.Automation;
using System.Text;
using QuantPS.Gguf;
using QuantPS.Inference.Tokenizers;

namespace QuantPS.PowerShell;

/// <summary>
/// What the tokenizer cmdlets share: -Model, read once per pipeline in BeginProcessing (the
/// vocabulary is kept, the file closed again), and ErrorRecords with the engine's ErrorIds.
/// </summary>
public abstract class TokenizerCmdletBase : PSCmdlet
{
    /// <summary>The GGUF model whose vocabulary to use (a vocabulary-only GGUF works too).</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    [Alias("ModelPath")]
    public string Model { get; set; } = string.Empty;

    /// <summary>The tokenizer of <see cref="Model"/>, available from ProcessRecord on.</summary>
    protected LlmTokenizer Tokenizer { get; private set; } = null!;

    protected override void BeginProcessing()
    {
        string path;
        try
        {
            path = SessionState.Path.GetUnresolvedProviderPathFromPSPath(Model);
        }
        catch (Exception e) when (e is SessionStateException or NotSupportedException or ArgumentException)
        {
            ThrowTerminatingError(GgufErrors.Create(GgufErrorKind.FileNotFound, $"Cannot find '{Model}': {e.Message}", Model, e));
            return;
        }

        WriteVerbose($"Reading the vocabulary of {path}");
        try
        {
            using var model = GgufModel.Open(path);
            Tokenizer = LlmTokenizer.FromModel(model);
        }
        catch (GgufException e)
        {
            ThrowTerminatingError(GgufErrors.From(e, path));
        }
        catch (TokenizerException e)
        {
            ThrowTerminatingError(TokenizerErrors.From(e, path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            ThrowTerminatingError(GgufErrors.FromUnexpected(e, path));
        }

        WriteVerbose($"{Tokenizer.Kind} vocabulary of {Tokenizer.VocabularySize} tokens{(Tokenizer.PreTokenizer is { } pre ? ", pre-tokenizer " + pre : string.Empty)}");
    }
}

/// <summary>Tokenizer failures as ErrorRecords whose ErrorId is the engine's "Tokenizer" + kind.</summary>
internal static class TokenizerErrors
{
    public static ErrorRecord From(TokenizerException exception, object? target) =>
        new(exception, exception.ErrorId, CategoryOf(exception.Kind), target);

    public static ErrorCategory CategoryOf(TokenizerErrorKind kind) => kind switch
    {
        TokenizerErrorKind.UnsupportedModel or TokenizerErrorKind.UnknownPreTokenizer => ErrorCategory.NotImplemented,
        TokenizerErrorKind.MissingVocabulary or TokenizerErrorKind.InvalidVocabulary => ErrorCategory.InvalidData,
        TokenizerErrorKind.InvalidTokenId => ErrorCategory.InvalidArgument,
        TokenizerErrorKind.MissingSpecialToken => ErrorCategory.InvalidOperation,
        _ => ErrorCategory.NotSpecified,
    };
}

/// <summary>
/// How token pieces read in views, as llama-tokenize shows them: quoted, newlines and tabs
/// escaped, and a piece that is not whole UTF-8 (a byte token) as its bytes in hex: &lt;f0 9f&gt;.
/// </summary>
public static class TokenView
{
    public static string Show(LlmToken? token)
    {
        if (token is null)
        {
            return string.Empty;
        }

        if (!System.Text.Unicode.Utf8.IsValid(token.Bytes))
        {
            return "<" + string.Join(' ', token.Bytes.Select(b => b.ToString("x2", CultureInfo.InvariantCulture))) + ">";
        }

        var shown = new StringBuilder(token.Text.Length + 2).Append('\'');
        foreach (var c in token.Text)
        {
            shown.Append(c switch
            {
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                _ when char.IsControl(c) => "\\x" + ((int)c).ToString("X2", CultureInfo.InvariantCulture),
                _ => c.ToString(),
            });
        }

        return shown.Append('\'').ToString();
    }
}
