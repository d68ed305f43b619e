using System.Management.Automation;
using QuantPS.Inference.Tokenizers;

namespace QuantPS.PowerShell;

/// <summary>
/// ConvertFrom-LlmToken: the text of a token sequence, as llama.cpp detokenizes it. Ids come as
/// -Id, from the pipeline, or as the Id property of ConvertTo-LlmToken's tokens; all ids of the
/// pipeline form one sequence and give one string (pieces join across tokens: a character may
/// be split over byte tokens, and SentencePiece drops the leading space only at the start).
/// </summary>
[Cmdlet(VerbsData.ConvertFrom, "LlmToken")]
[OutputType(typeof(string))]
public sealed class ConvertFromLlmTokenCommand : TokenizerCmdletBase
{
    private readonly List<int> _ids = [];

    /// <summary>Token ids, in order.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [AllowEmptyCollection]
    public int[] Id { get; set; } = [];

    /// <summary>Drop the BOS at the start and the EOS at the end when the model adds them itself.</summary>
    [Parameter]
    public SwitchParameter RemoveSpecial { get; set; }

    /// <summary>Leave control tokens (BOS, EOS, &lt;|im_end|&gt;...) out of the text instead of writing them.</summary>
    [Parameter]
    public SwitchParameter SkipSpecial { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var id in Id)
        {
            if (id < 0 || id >= Tokenizer.VocabularySize)
            {
                // Reported and left out, so one bad id does not lose the rest of the text.
                var error = new TokenizerException(TokenizerErrorKind.InvalidTokenId,
                    $"Token id {id} is outside this vocabulary (0..{Tokenizer.VocabularySize - 1}); it is left out of the text.", id.ToString(System.Globalization.CultureInfo.InvariantCulture));
                WriteError(TokenizerErrors.From(error, id));
                continue;
            }

            _ids.Add(id);
        }
    }

    protected override void EndProcessing()
    {
        try
        {
            WriteObject(Tokenizer.Decode(_ids, RemoveSpecial, unparseSpecial: !SkipSpecial));
        }
        catch (TokenizerException e)
        {
            WriteError(TokenizerErrors.From(e, e.Subject));
        }
    }
}
