namespace QuantPS.Inference.Tokenizers;

/// <summary>
/// The special-token rules llama.cpp applies by token text, because converters do not always
/// record them: end-of-turn and fill-in-the-middle tokens, unused slots, the set of tokens that
/// end generation, and per-model strip attributes.
/// </summary>
internal sealed partial class Vocabulary
{
    // Candidates in priority order. llama.cpp takes whichever its hash map yields first; when a
    // vocabulary has several, we take the earliest listed (it is the one models mean).
    private static readonly string[] EotTexts =
        ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>"];

    private static readonly string[] EomTexts = ["<|eom_id|>"];
    private static readonly string[] FimPrefixTexts = ["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"];
    private static readonly string[] FimSuffixTexts = ["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"];
    private static readonly string[] FimMiddleTexts = ["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"];
    private static readonly string[] FimPadTexts = ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"];
    private static readonly string[] FimRepoTexts = ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"];
    private static readonly string[] FimSeparatorTexts = ["<|file_sep|>"];

    private static readonly string[] EndOfGenerationTexts =
    [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
        "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>", "<end_of_utterance>",
        "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~[",
    ];

    // gpt-oss: these must always be rendered, so they are user-defined rather than control tokens.
    private static readonly string[] AlwaysRenderedTexts = ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"];

    private void DetectSpecialTokensByText()
    {
        Eot = Eot >= 0 ? Eot : FindControlLooking(EotTexts);
        Eom = Eom >= 0 ? Eom : FindControlLooking(EomTexts);
        FimPrefix = FimPrefix >= 0 ? FimPrefix : FindControlLooking(FimPrefixTexts);
        FimSuffix = FimSuffix >= 0 ? FimSuffix : FindControlLooking(FimSuffixTexts);
        FimMiddle = FimMiddle >= 0 ? FimMiddle : FindControlLooking(FimMiddleTexts);
        FimPad = FimPad >= 0 ? FimPad : FindControlLooking(FimPadTexts);
        FimRepo = FimRepo >= 0 ? FimRepo : FindControlLooking(FimRepoTexts);
        FimSeparator = FimSeparator >= 0 ? FimSeparator : FindControlLooking(FimSeparatorTexts);

        // Control tokens named "unused" are placeholders.
        for (var id = 0; id < Count; id++)
        {
            if (Has(TokenAttributes.Control, id) && Texts[id].Contains("unused", StringComparison.Ordinal))
            {
                Attributes[id] |= TokenAttributes.Unused;
            }
        }

        foreach (var id in new[] { FimPad, FimRepo, FimSeparator })
        {
            AddEndOfGeneration(id);
        }

        foreach (var text in EndOfGenerationTexts)
        {
            var id = Lookup.Find(text);
            if (id >= 0)
            {
                EndOfGenerationIds.Add(id);
                Attributes[id] |= TokenAttributes.Control;
            }
        }

        foreach (var text in AlwaysRenderedTexts)
        {
            var id = Lookup.Find(text);
            if (id >= 0)
            {
                Attributes[id] = TokenAttributes.UserDefined;
            }
        }

        AddEndOfGeneration(Eos);
        AddEndOfGeneration(Eot);
        AddEndOfGeneration(Eom);
        ApplyEndOfGenerationWorkarounds();
        SpecialTokensLongestFirst = Enumerable.Range(0, Count)
            .Where(id => Has(TokenAttributes.Control | TokenAttributes.UserDefined | TokenAttributes.Unknown, id))
            .OrderByDescending(id => Texts[id].Length)
            .ThenBy(id => id)
            .ToArray();
    }

    private void AddEndOfGeneration(int id)
    {
        if (id >= 0)
        {
            EndOfGenerationIds.Add(id);
        }
    }

    // The first listed text present; llama.cpp also makes it a control token.
    private int FindControlLooking(string[] candidates)
    {
        foreach (var text in candidates)
        {
            var id = Lookup.Find(text);
            if (id >= 0)
            {
                Attributes[id] |= TokenAttributes.Control;
                return id;
            }
        }

        return -1;
    }

    private void ApplyEndOfGenerationWorkarounds()
    {
        int IdOf(string text) => EndOfGenerationIds.FirstOrDefault(id => Texts[id] == text, -1);

        // Harmony (gpt-oss) and Solar-Open: <|end|> ends a message, not the generation.
        var end = IdOf("<|end|>");
        var hasCall = IdOf("<|call|>") >= 0 || IdOf("<|calls|>") >= 0;
        if (end >= 0 && hasCall && (IdOf("<|return|>") >= 0 || IdOf("<|flush|>") >= 0))
        {
            EndOfGenerationIds.Remove(end);
            Attributes[end] = TokenAttributes.UserDefined;
        }

        // Gemma 4 and PaddleOCR: </s> is an ordinary token there.
        var closingS = IdOf("</s>");
        if (closingS >= 0 && IdOf("<|tool_response>") >= 0)
        {
            EndOfGenerationIds.Remove(closingS);
            Attributes[closingS] = TokenAttributes.Normal;
        }
    }

    private void ApplyModelSpecificAttributes()
    {
        var name = (Metadata.GetString("general.name") ?? string.Empty).ToLowerInvariant();
        var pre = PreName ?? string.Empty;
        var architecture = Metadata.GetString("general.architecture") ?? string.Empty;
        if (pre is "jina-v2-de" or "jina-v2-es" or "jina-v2-code" || architecture is "nomic-bert-moe" or "jina-bert-v3")
        {
            SetAttribute("<mask>", TokenAttributes.LStrip, true);
        }
        else if (name.Contains("phi-3", StringComparison.Ordinal) || name.Contains("phi3", StringComparison.Ordinal))
        {
            // Phi-3's tokenizer swallows whitespace after its special tokens.
            foreach (var id in SpecialTokensLongestFirst)
            {
                Attributes[id] |= TokenAttributes.RStrip;
            }

            SetAttribute("</s>", TokenAttributes.RStrip, true);
            foreach (var text in new[] { "<unk>", "<s>", "<|endoftext|>" })
            {
                SetAttribute(text, TokenAttributes.RStrip, false);
            }
        }
        else if (name.Contains("modern-bert", StringComparison.Ordinal))
        {
            SetAttribute("[MASK]", TokenAttributes.LStrip, true);
        }
    }

    private void SetAttribute(string text, TokenAttributes attribute, bool on)
    {
        var id = Lookup.Find(text);
        if (id >= 0)
        {
            Attributes[id] = on ? Attributes[id] | attribute : Attributes[id] & ~attribute;
        }
    }
}
