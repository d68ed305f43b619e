using System.Management.Automation;
using QuantPS.Inference.Tokenizers;

namespace QuantPS.PowerShell;

/// <summary>
/// ConvertTo-LlmToken: the tokens of each text as the model's tokenizer (and llama.cpp) cuts
/// it, one LlmToken per token. Like llama-tokenize: special tokens are added only with
/// -AddSpecial, and control tokens written in the text are parsed only with -ParseSpecial.
/// </summary>
[Cmdlet(VerbsData.ConvertTo, "LlmToken")]
[OutputType(typeof(LlmToken), typeof(int))]
public sealed class ConvertToLlmTokenCommand : TokenizerCmdletBase
{
    /// <summary>The texts to tokenize; each gives its own token sequence.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [AllowEmptyString]
    public string[] Text { get; set; } = [];

    /// <summary>Add what the model asks for around text: BOS (and EOS) for most models, [CLS] … [SEP] for BERT.</summary>
    [Parameter]
    public SwitchParameter AddSpecial { get; set; }

    /// <summary>Read control tokens written in the text ("&lt;|im_end|&gt;") as those tokens, not as plain text.</summary>
    [Parameter]
    public SwitchParameter ParseSpecial { get; set; }

    /// <summary>Return the ids only (Int32), as llama-tokenize --ids prints them.</summary>
    [Parameter]
    public SwitchParameter IdOnly { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var text in Text)
        {
            int[] ids;
            try
            {
                ids = Tokenizer.Encode(text ?? string.Empty, AddSpecial, ParseSpecial);
            }
            catch (TokenizerException e)
            {
                WriteError(TokenizerErrors.From(e, text));
                continue;
            }

            if (IdOnly)
            {
                foreach (var id in ids)
                {
                    WriteObject(id);
                }

                continue;
            }

            foreach (var token in LlmToken.From(Tokenizer, ids))
            {
                WriteObject(token);
            }
        }
    }
}
