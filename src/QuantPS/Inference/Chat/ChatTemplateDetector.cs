namespace QuantPS.Inference.Chat;

/// <summary>The template families llama.cpp can format without a Jinja engine.</summary>
internal enum ChatTemplateFamily
{
    ChatMl, Llama2, Llama2Sys, Llama2SysBos, Llama2SysStrip, MistralV1, MistralV3, MistralV3Tekken, MistralV7, MistralV7Tekken,
    Phi3, Phi4, Falcon3, Zephyr, Monarch, Gemma, Orion, OpenChat, Vicuna, VicunaOrca, Deepseek, Deepseek2, Deepseek3, DeepseekOcr,
    CommandR, Llama3, ChatGlm3, ChatGlm4, GlmEdge, MiniCpm, Exaone3, Exaone4, ExaoneMoe, RwkvWorld, Granite3, Granite40, Granite41,
    GigaChat, Megrez, Yandex, Bailing, BailingThink, Bailing2, Llama4, SmolVlm, Dots1, HunyuanMoe, GptOss, HunyuanDense, HunyuanVl,
    KimiK2, SeedOss, Grok2, PanguEmbedded, SolarOpen,
}

/// <summary>
/// Which family a Jinja chat template belongs to, by the marker strings llama.cpp looks for
/// (llm_chat_detect_template), tested in its order: the first rule that matches wins.
/// </summary>
internal static class ChatTemplateDetector
{
    public static ChatTemplateFamily? Detect(string t)
    {
        bool Has(string marker) => t.Contains(marker, StringComparison.Ordinal);

        if (Has("<|im_start|>"))
        {
            // SmolVLM opens with <|im_start|> but is not ChatML.
            return Has("<|im_sep|>") ? ChatTemplateFamily.Phi4 : Has("<end_of_utterance>") ? ChatTemplateFamily.SmolVlm : ChatTemplateFamily.ChatMl;
        }

        if (t.StartsWith("mistral", StringComparison.Ordinal) || Has("[INST]"))
        {
            return DetectMistralOrLlama2(t);
        }

        if (Has("<|assistant|>") && Has("<|end|>"))
        {
            return ChatTemplateFamily.Phi3;
        }

        if (Has("[gMASK]<sop>"))
        {
            return ChatTemplateFamily.ChatGlm4;
        }

        if (Has("<|assistant|>") && Has("<|user|>"))
        {
            return Has("<|tool_declare|>") ? ChatTemplateFamily.ExaoneMoe : Has("</s>") ? ChatTemplateFamily.Falcon3 : ChatTemplateFamily.GlmEdge;
        }

        if (Has("<|{{ item['role'] }}|>") && Has("<|begin_of_image|>"))
        {
            return ChatTemplateFamily.GlmEdge;
        }

        return DetectByMarker(Has);
    }

    private static ChatTemplateFamily DetectMistralOrLlama2(string t)
    {
        bool Has(string marker) => t.Contains(marker, StringComparison.Ordinal);
        if (Has("[SYSTEM_PROMPT]"))
        {
            return ChatTemplateFamily.MistralV7;
        }

        // Mistral's official v1, v3 and v3-tekken templates.
        if (Has("' [INST] ' + system_message") || Has("[AVAILABLE_TOOLS]"))
        {
            return Has(" [INST]") ? ChatTemplateFamily.MistralV1
                : Has("\"[INST]\"") ? ChatTemplateFamily.MistralV3Tekken
                : ChatTemplateFamily.MistralV3;
        }

        // Llama 2 and its variants: system message support, BOS inside the history, stripped content.
        return Has("content.strip()") ? ChatTemplateFamily.Llama2SysStrip
            : Has("bos_token + '[INST]") ? ChatTemplateFamily.Llama2SysBos
            : Has("<<SYS>>") ? ChatTemplateFamily.Llama2Sys
            : ChatTemplateFamily.Llama2;
    }

    private static ChatTemplateFamily? DetectByMarker(Func<string, bool> has)
    {
        var rules = new (Func<bool> Matches, Func<ChatTemplateFamily> Family)[]
        {
            (() => has("<|user|>") && has("<|endoftext|>"), () => ChatTemplateFamily.Zephyr),
            (() => has("bos_token + message['role']"), () => ChatTemplateFamily.Monarch),
            (() => has("<start_of_turn>"), () => ChatTemplateFamily.Gemma),
            (() => has("'\\n\\nAssistant: ' + eos_token"), () => ChatTemplateFamily.Orion),
            (() => has("GPT4 Correct "), () => ChatTemplateFamily.OpenChat),
            (() => has("USER: ") && has("ASSISTANT: "), () => has("SYSTEM: ") ? ChatTemplateFamily.VicunaOrca : ChatTemplateFamily.Vicuna),
            (() => has("### Instruction:") && has("<|EOT|>"), () => ChatTemplateFamily.Deepseek),
            (() => has("<|START_OF_TURN_TOKEN|>") && has("<|USER_TOKEN|>"), () => ChatTemplateFamily.CommandR),
            (() => has("<|start_header_id|>") && has("<|end_header_id|>"), () => ChatTemplateFamily.Llama3),
            (() => has("[gMASK]sop"), () => ChatTemplateFamily.ChatGlm3),
            (() => has("<用户>"), () => ChatTemplateFamily.MiniCpm),
            (() => has("'Assistant: ' + message['content'] + eos_token"), () => ChatTemplateFamily.Deepseek2),
            (() => has("<｜Assistant｜>") && has("<｜User｜>") && has("<｜end▁of▁sentence｜>"), () => ChatTemplateFamily.Deepseek3),
            (() => has("[|system|]") && has("[|assistant|]") && has("[|endofturn|]"), () => has("[|tool|]") ? ChatTemplateFamily.Exaone4 : ChatTemplateFamily.Exaone3),
            (() => has("rwkv-world") || has("{{- 'User: ' + message['content']|trim + '\\n\\n' -}}"), () => ChatTemplateFamily.RwkvWorld),
            (() => has("<|start_of_role|>"), () => has("<tool_call>") || has("<tools>")
                ? (has("g4_default_system_message") ? ChatTemplateFamily.Granite40 : ChatTemplateFamily.Granite41)
                : ChatTemplateFamily.Granite3),
            (() => has("message['role'] + additional_special_tokens[0] + message['content'] + additional_special_tokens[1]"), () => ChatTemplateFamily.GigaChat),
            (() => has("<|role_start|>"), () => ChatTemplateFamily.Megrez),
            (() => has(" Ассистент:"), () => ChatTemplateFamily.Yandex),
            (() => has("<role>ASSISTANT</role>") && has("'HUMAN'"), () => ChatTemplateFamily.Bailing),
            (() => has("<role>ASSISTANT</role>") && has("\"HUMAN\"") && has("<think>"), () => ChatTemplateFamily.BailingThink),
            (() => has("<role>ASSISTANT</role>") && has("<role>HUMAN</role>") && has("<|role_end|>"), () => ChatTemplateFamily.Bailing2),
            (() => has("<|header_start|>") && has("<|header_end|>"), () => ChatTemplateFamily.Llama4),
            (() => has("<|endofuserprompt|>"), () => ChatTemplateFamily.Dots1),
            (() => has("<|extra_0|>") && has("<|extra_4|>"), () => ChatTemplateFamily.HunyuanMoe),
            (() => has("<|start|>") && has("<|channel|>"), () => ChatTemplateFamily.GptOss),
            (() => has("<｜hy_Assistant｜>") && has("<｜hy_begin▁of▁sentence｜>"), () => ChatTemplateFamily.HunyuanVl),
            (() => has("<｜hy_Assistant｜>") && has("<｜hy_place▁holder▁no▁3｜>"), () => ChatTemplateFamily.HunyuanDense),
            (() => has("<|im_assistant|>assistant<|im_middle|>"), () => ChatTemplateFamily.KimiK2),
            (() => has("<seed:bos>"), () => ChatTemplateFamily.SeedOss),
            (() => has("'Assistant: '  + message['content'] + '<|separator|>"), () => ChatTemplateFamily.Grok2),
            (() => has("[unused9]系统：[unused10]"), () => ChatTemplateFamily.PanguEmbedded),
            (() => has("<|begin|>") && has("<|end|>") && has("<|content|>"), () => ChatTemplateFamily.SolarOpen),
        };

        foreach (var (matches, family) in rules)
        {
            if (matches())
            {
                return family();
            }
        }

        return null;
    }
}
