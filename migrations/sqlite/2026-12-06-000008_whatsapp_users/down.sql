DROP TABLE whatsapp_users;
