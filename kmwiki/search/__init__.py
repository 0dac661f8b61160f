"""Full-text search: text analysis for the Whoosh index (jieba for Chinese, light stemming for English)."""
