"""WeCom (企业微信) for staff and managers, WeChat customer service (微信客服) for residents."""
