namespace QuantPS.Inference.Tokenizers;

/// <summary>One token of a tokenized text, as ConvertTo-LlmToken returns it.</summary>
/// <param name="Index">Position in the text's token sequence, from 0.</param>
/// <param name="Id">The token id.</param>
/// <param name="Text">The text the token stands for (its piece: " Hello", "\n", "&lt;s&gt;"); a byte token that is only part of a character reads as U+FFFD.</param>
/// <param name="IsSpecial">A control or unknown token (BOS, EOS, &lt;|im_end|&gt;...): markup for the model rather than text.</param>
/// <param name="Bytes">The piece as UTF-8 bytes: exact even where <paramref name="Text"/> cannot be (part of a character).</param>
public sealed record LlmToken(int Index, int Id, string Text, bool IsSpecial, byte[] Bytes)
{
    /// <summary>The tokens of a sequence of ids, with their pieces.</summary>
    public static IEnumerable<LlmToken> From(LlmTokenizer tokenizer, IReadOnlyList<int> ids)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(ids);
        for (var i = 0; i < ids.Count; i++)
        {
            var bytes = tokenizer.TokenToBytes(ids[i]);
            yield return new LlmToken(i, ids[i], System.Text.Encoding.UTF8.GetString(bytes), tokenizer.IsSpecial(ids[i]), bytes);
        }
    }
}
