using System.Text;

namespace QuantPS.Inference.Chat;

/// <summary>The families llama.cpp added later: EXAONE, Granite, GigaChat, Bailing, Hunyuan, Kimi...</summary>
internal static partial class ChatTemplateFormatter
{
    private static void FormatMore(ChatTemplateFamily family, StringBuilder s, IReadOnlyList<ChatMessage> chat, bool addAssistant)
    {
        switch (family)
        {
            case ChatTemplateFamily.Exaone3 or ChatTemplateFamily.Exaone4:
                foreach (var m in chat)
                {
                    s.Append(m.Role switch
                    {
                        "system" => "[|system|]" + Trim(m.Content) + "[|endofturn|]\n",
                        "user" => "[|user|]" + Trim(m.Content) + "\n",
                        "assistant" => "[|assistant|]" + Trim(m.Content) + "[|endofturn|]\n",
                        "tool" when family == ChatTemplateFamily.Exaone4 => "[|tool|]" + Trim(m.Content) + "[|endofturn|]\n",
                        _ => string.Empty,
                    });
                }

                If(addAssistant, s, "[|assistant|]");
                break;
            case ChatTemplateFamily.ExaoneMoe:
                foreach (var m in chat)
                {
                    if (m.Role is "system" or "user" or "assistant" or "tool")
                    {
                        s.Append("<|").Append(m.Role).Append("|>\n").Append(Trim(m.Content)).Append("<|endofturn|>\n");
                    }
                }

                If(addAssistant, s, "<|assistant|>\n");
                break;
            case ChatTemplateFamily.RwkvWorld:
                // "\n\n" ends a turn for this model; the prompt for the reply follows the last user turn.
                for (var i = 0; i < chat.Count; i++)
                {
                    var m = chat[i];
                    s.Append(m.Role switch
                    {
                        "system" => "System: " + Trim(m.Content) + "\n\n",
                        "user" => "User: " + Trim(m.Content) + "\n\n" + (i == chat.Count - 1 ? "Assistant:" : string.Empty),
                        "assistant" => "Assistant: " + Trim(m.Content) + "\n\n",
                        _ => string.Empty,
                    });
                }

                break;
            case ChatTemplateFamily.Granite3:
                foreach (var m in chat)
                {
                    s.Append("<|start_of_role|>").Append(m.Role).Append("<|end_of_role|>");
                    s.Append(m.Role == "assistant_tool_call" ? "<|tool_call|>" : string.Empty).Append(m.Content).Append("<|end_of_text|>\n");
                }

                If(addAssistant, s, "<|start_of_role|>assistant<|end_of_role|>");
                break;
            case ChatTemplateFamily.Granite40 or ChatTemplateFamily.Granite41:
                foreach (var m in chat)
                {
                    s.Append(m.Role == "assistant_tool_call"
                        ? "<|start_of_role|>assistant<|end_of_role|><|tool_call|>"
                        : "<|start_of_role|>" + m.Role + "<|end_of_role|>");
                    s.Append(m.Content).Append("<|end_of_text|>\n");
                }

                If(addAssistant, s, "<|start_of_role|>assistant<|end_of_role|>");
                break;
            case ChatTemplateFamily.GigaChat:
                GigaChat(s, chat, addAssistant);
                break;
            case ChatTemplateFamily.Megrez:
                Each(chat, m => s.Append("<|role_start|>").Append(m.Role).Append("<|role_end|>").Append(m.Content).Append("<|turn_end|>"));
                If(addAssistant, s, "<|role_start|>assistant<|role_end|>");
                break;
            case ChatTemplateFamily.Yandex:
                // "\n\n" ends a turn for this model.
                ByRole(s, chat, system: _ => string.Empty, user: m => " Пользователь: " + m.Content + "\n\n", assistant: m => " Ассистент: " + m.Content + "\n\n");
                If(addAssistant, s, " Ассистент:[SEP]");
                break;
            case ChatTemplateFamily.Bailing or ChatTemplateFamily.BailingThink:
                Each(chat, m => s.Append("<role>").Append(BailingRole(m.Role)).Append("</role>").Append(m.Content));
                If(addAssistant, s, family == ChatTemplateFamily.BailingThink ? "<role>ASSISTANT</role><think>" : "<role>ASSISTANT</role>");
                break;
            case ChatTemplateFamily.Bailing2:
                If(chat.Count == 0 || chat[0].Role != "system", s, "<role>SYSTEM</role>detailed thinking off<|role_end|>");
                Each(chat, m => s.Append("<role>").Append(BailingRole(m.Role)).Append("</role>").Append(m.Content).Append("<|role_end|>"));
                If(addAssistant, s, "<role>ASSISTANT</role>");
                break;
            case ChatTemplateFamily.Llama4:
                Each(chat, m => s.Append("<|header_start|>").Append(m.Role).Append("<|header_end|>\n\n").Append(Trim(m.Content)).Append("<|eot|>"));
                If(addAssistant, s, "<|header_start|>assistant<|header_end|>\n\n");
                break;
            case ChatTemplateFamily.SmolVlm:
                s.Append("<|im_start|>"); // SmolVLM's BOS, not a ChatML turn
                foreach (var m in chat)
                {
                    s.Append(m.Role switch
                    {
                        "system" => m.Content + "\n\n",
                        "user" => "User: " + m.Content + "<end_of_utterance>\n",
                        _ => "Assistant: " + m.Content + "<end_of_utterance>\n",
                    });
                }

                If(addAssistant, s, "Assistant:");
                break;
            default:
                FormatNewest(family, s, chat, addAssistant);
                break;
        }
    }

    private static void FormatNewest(ChatTemplateFamily family, StringBuilder s, IReadOnlyList<ChatMessage> chat, bool addAssistant)
    {
        switch (family)
        {
            case ChatTemplateFamily.Dots1:
                foreach (var m in chat)
                {
                    s.Append(m.Role switch
                    {
                        "system" => "<|system|>" + m.Content + "<|endofsystem|>",
                        "user" => "<|userprompt|>" + m.Content + "<|endofuserprompt|>",
                        _ => "<|response|>" + m.Content + "<|endofresponse|>",
                    });
                }

                If(addAssistant, s, "<|response|>");
                break;
            case ChatTemplateFamily.HunyuanMoe:
                // No generation prompt: the user turn's closing marker opens the reply.
                foreach (var m in chat)
                {
                    s.Append(m.Role switch
                    {
                        "system" => "<|startoftext|>" + m.Content + "<|extra_4|>",
                        "assistant" => m.Content + "<|eos|>",
                        _ => "<|startoftext|>" + m.Content + "<|extra_0|>",
                    });
                }

                break;
            case ChatTemplateFamily.GptOss:
                Each(chat, m => s.Append("<|start|>").Append(m.Role).Append("<|message|>").Append(m.Content).Append(m.Role == "assistant" ? "<|return|>" : "<|end|>"));
                If(addAssistant, s, "<|start|>assistant");
                break;
            case ChatTemplateFamily.HunyuanDense:
                for (var i = 0; i < chat.Count; i++)
                {
                    var m = chat[i];
                    If(i == 0 && m.Role == "system", s, m.Content + "<｜hy_place▁holder▁no▁3｜>");
                    s.Append(m.Role switch
                    {
                        "assistant" => "<｜hy_Assistant｜>" + m.Content + "<｜hy_place▁holder▁no▁2｜>",
                        "user" => "<｜hy_User｜>" + m.Content + "<｜hy_Assistant｜>",
                        _ => string.Empty,
                    });
                }

                break;
            case ChatTemplateFamily.HunyuanVl:
                s.Append("<｜hy_begin▁of▁sentence｜>");
                for (var i = 0; i < chat.Count; i++)
                {
                    var m = chat[i];
                    s.Append(i == 0 && m.Role == "system" ? m.Content + "<｜hy_place▁holder▁no▁3｜>"
                        : m.Role == "user" ? m.Content + "<｜hy_User｜>"
                        : m.Role == "assistant" ? m.Content + "<｜hy_Assistant｜>"
                        : string.Empty);
                }

                break;
            case ChatTemplateFamily.KimiK2:
                foreach (var m in chat)
                {
                    s.Append(m.Role switch
                    {
                        "system" => "<|im_system|>system<|im_middle|>",
                        "user" => "<|im_user|>user<|im_middle|>",
                        "assistant" => "<|im_assistant|>assistant<|im_middle|>",
                        "tool" => "<|im_system|>tool<|im_middle|>",
                        _ => string.Empty,
                    }).Append(m.Content).Append("<|im_end|>");
                }

                If(addAssistant, s, "<|im_assistant|>assistant<|im_middle|>");
                break;
            case ChatTemplateFamily.SeedOss:
                Each(chat, m => s.Append("<seed:bos>").Append(m.Role).Append('\n').Append(m.Role == "assistant" ? Trim(m.Content) : m.Content).Append("<seed:eos>"));
                If(addAssistant, s, "<seed:bos>assistant\n");
                break;
            case ChatTemplateFamily.Grok2:
                ByRole(s, chat,
                    system: m => "System: " + Trim(m.Content) + "<|separator|>\n\n",
                    user: m => "Human: " + Trim(m.Content) + "<|separator|>\n\n",
                    assistant: m => "Assistant: " + m.Content + "<|separator|>\n\n");
                If(addAssistant, s, "Assistant:");
                break;
            case ChatTemplateFamily.PanguEmbedded:
                PanguEmbedded(s, chat, addAssistant);
                break;
            case ChatTemplateFamily.SolarOpen:
                Each(chat, m => s.Append("<|begin|>").Append(m.Role).Append("<|content|>").Append(m.Content).Append("<|end|>"));
                If(addAssistant, s, "<|begin|>assistant");
                break;
            default:
                throw new InvalidOperationException($"No formatter for {family}.");
        }
    }

    private static void GigaChat(StringBuilder s, IReadOnlyList<ChatMessage> chat, bool addAssistant)
    {
        var hasSystem = chat.Count > 0 && chat[0].Role == "system";
        s.Append(hasSystem ? "<s>" + chat[0].Content + "<|message_sep|>" : "<s>");
        for (var i = hasSystem ? 1 : 0; i < chat.Count; i++)
        {
            var m = chat[i];
            if (m.Role == "user")
            {
                s.Append("user<|role_sep|>").Append(m.Content).Append("<|message_sep|>").Append("available functions<|role_sep|>[]<|message_sep|>");
            }
            else if (m.Role == "assistant")
            {
                s.Append("assistant<|role_sep|>").Append(m.Content).Append("<|message_sep|>");
            }
        }

        If(addAssistant, s, "assistant<|role_sep|>");
    }

    private static void PanguEmbedded(StringBuilder s, IReadOnlyList<ChatMessage> chat, bool addAssistant)
    {
        for (var i = 0; i < chat.Count; i++)
        {
            var m = chat[i];
            If(i == 0 && m.Role != "system", s, "[unused9]系统：[unused10]");
            var speaker = m.Role switch
            {
                "system" => "系统",
                "user" => "用户",
                "assistant" => "助手",
                "tool" => "工具",
                "function" => "方法",
                _ => null,
            };
            If(speaker is not null, s, "[unused9]" + speaker + "：" + m.Content + "[unused10]");
        }

        If(addAssistant, s, "[unused9]助手：");
    }

    private static string BailingRole(string role) => role == "user" ? "HUMAN" : UpperAscii(role);
}
